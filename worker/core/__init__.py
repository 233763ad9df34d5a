"""Pure domain: values, the season planner, the reconcile plan, ports. No I/O imports."""
