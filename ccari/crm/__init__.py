"""The customer record (CRM) shown in the screen pop."""
