"""The instance metadata service (169.254.169.254 as guests see it).

``server`` serves it on the Unix socket ``Settings.metadata_socket``; netd's proxy in
the instance network forwards guests' requests there with ``X-Forwarded-For:
<instance ip>``. ``tree`` builds one instance's metadata; ``tokens`` does IMDSv2.
"""
