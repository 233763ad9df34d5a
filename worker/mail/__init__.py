"""Mail: templates, messages, .ics, recipient lists."""
