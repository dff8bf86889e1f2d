"""gunicorn's settings that belong to the app, the same on every host.

Each instance loads them with `gunicorn --config python:stickyapp.gunicorn_settings`; the flask_app
role's unit adds what differs between deployments on the command line (worker class, workers,
threads, keep-alive, graceful timeout, bind address), and those flags override this module.
"""

timeout = 30

# Every instance would otherwise claim the same control socket.
control_socket_disable = True
# gunicorn would believe X-Forwarded-Proto from loopback on its own; the app decides instead,
# from STICKYAPP_TRUSTED_PROXIES (the load balancers) only.
forwarded_allow_ips = ""

# To the journal: errors, and one line per request with the id nginx sent as X-Request-ID, so a
# request can be followed from the load balancer's log to the app's.
errorlog = "-"
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}i)s'
