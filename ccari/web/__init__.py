"""HTTP plumbing shared by the internal and the public applications."""
