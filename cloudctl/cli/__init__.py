"""The admin CLI ``cloudctl``: init, up, credentials, properties, services, database."""
