"""The wallboard: live service figures per tenant, queue and medium, for supervisors."""
