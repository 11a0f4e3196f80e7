"""Call recording: the tenant's policy, the bridge recorded over ARI, the files it keeps."""
