"""What people read: certificates, the season report, status."""
