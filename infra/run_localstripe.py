"""Runs localstripe (a stateful fake Stripe server, PyPI) on 127.0.0.1 only.

localstripe's own entry point binds every interface; the tests need loopback only.
Usage: run_localstripe.py PORT (named so it does not shadow the localstripe package)
"""
import sys

from aiohttp import web
from localstripe.server import app

web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
