# asio-sandbox in a container: build and test everything in one stage, then
# keep only the chapters, the docs and a few tools to play with.
#
#   docker build -t asio-sandbox .
#   docker run --rm asio-sandbox                        # what is inside
#   docker run -it --rm -p 2222:2222 asio-sandbox ch01_protocol_echo_server --host 0.0.0.0
#   docker run --rm -p 8000:8000 asio-sandbox serve-docs
#
# No Docker engine? scripts/docker-check.sh builds it with buildah instead.

FROM debian:bookworm AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build libasio-dev libcli11-dev libgtest-dev libbenchmark-dev python3 \
      doxygen graphviz doxygen-awesome-css \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The whole test suite runs here (the docs checks included): an image is only
# made from code that passes. Warnings are errors, as in CI.
RUN cmake --preset release -DSANDBOX_WARNINGS_AS_ERRORS=ON \
 && cmake --build --preset release \
 && ctest --preset release \
 && cmake --build --preset release --target docs \
 && cmake --install build/release --prefix /opt/asio-sandbox

FROM debian:bookworm
# telnet and nc to talk to the chapters; busybox's httpd to serve the docs.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      telnet netcat-openbsd busybox \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/asio-sandbox/bin/ /usr/local/bin/
COPY --from=build /src/build/release/docs/html/ /usr/share/doc/asio-sandbox/html/
COPY docker/welcome.sh /usr/local/bin/asio-sandbox-welcome
COPY docker/serve-docs.sh /usr/local/bin/serve-docs
RUN useradd --create-home --shell /bin/bash learner
USER learner
WORKDIR /home/learner
EXPOSE 2222 8000
CMD ["asio-sandbox-welcome"]
