"""Provisioning: tenants, their numbers, agents, queues and IVR menus through one validated
model, behind the admin REST API and ``ccari admin``; every change audited and pushed to
Asterisk with a reload."""
