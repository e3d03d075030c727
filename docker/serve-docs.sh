#!/bin/sh
# Serves the documentation site on port 8000 (or $1) until stopped.
port=${1:-8000}
echo "Serving the asio-sandbox docs on http://localhost:$port (Ctrl-C stops)"
exec busybox httpd -f -p "0.0.0.0:$port" -h /usr/share/doc/asio-sandbox/html
