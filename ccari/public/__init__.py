"""The customer-facing side: customer sessions, the embeddable widget, allowed origins."""
