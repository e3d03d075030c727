# asio-sandbox in a container, in three stages:
#
#   dev    the workbench: compiler, CMake, the libraries, python3 and the
#          pages' tools (telnet, nc, gdb). No sources: you mount yours, so an
#          edit rebuilds one target in seconds instead of the whole image.
#   build  dev plus the sources: builds the chapters and their tests (not the
#          exercises and bug hunts), runs the tests, builds the docs and
#          installs the stripped programs.
#   (last) what a reader runs: the programs, the docs, each chapter's
#          reference.py with python3, telnet, nc, and tini as PID 1.
#
#   docker build -t asio-sandbox .
#   docker run --rm asio-sandbox                        # what is inside
#   docker run -it --rm -p 2222:2222 asio-sandbox ch01_protocol_echo_server --host 0.0.0.0
#   docker run -it --rm -p 8000:8000 asio-sandbox serve-docs   # Ctrl-C stops it
#   docker compose run --rm dev                         # the workbench (compose.yaml)
#
# No Docker engine? scripts/docker-check.sh builds it with buildah instead.

FROM debian:bookworm AS dev
# The toolchain and libraries of the build, python3 for the reference
# programs and the page checks, the tools the pages use, gdb to look inside.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      g++ cmake ninja-build libasio-dev libcli11-dev libgtest-dev libbenchmark-dev python3 \
      doxygen graphviz doxygen-awesome-css \
      telnet netcat-openbsd gdb git ca-certificates \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
# The repository is bind-mounted at /src, owned by your user on the host, not
# by the container's root: git refuses such a directory unless told it is safe.
RUN git config --system --add safe.directory /src
WORKDIR /src
EXPOSE 2222 8000
CMD ["bash"]

FROM dev AS build
COPY . .
# The test suite runs here: an image is only made from programs that pass,
# built as the image ships them (release, warnings as errors, as in CI).
# The page checks (label docs) and the benchmark scripts' own tests (label
# bench) are left to `./scripts/sandbox.sh test`: they check pages and
# Python, which the build type does not change, and take a third of the time. --strip takes
# the symbol tables out of the installed programs (a third of their size);
# a debugging session belongs in the dev stage, which keeps them. The
# exercises and bug hunts are for working on in the dev stage: the image
# installs neither, so this build leaves them out.
RUN cmake --preset release -DSANDBOX_WARNINGS_AS_ERRORS=ON -DSANDBOX_BUILD_PRACTICE=OFF \
 && cmake --build --preset release \
 && ctest --preset release -LE '^(docs|bench)$' \
 && cmake --build --preset release --target docs \
 && cmake --install build/release --prefix /opt/asio-sandbox --strip

FROM debian:bookworm
# telnet and nc to talk to the chapters; busybox's httpd to serve the docs;
# python3 to run the chapters' reference.py side by side with the C++;
# tini as PID 1 (below). apt-get clean drops the downloaded .deb files, and
# the package lists go too: neither is any use in a finished image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      telnet netcat-openbsd busybox python3 tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/asio-sandbox/bin/ /usr/local/bin/
COPY --from=build /src/build/release/docs/html/ /usr/share/doc/asio-sandbox/html/
COPY docker/welcome.sh /usr/local/bin/asio-sandbox-welcome
COPY docker/serve-docs.sh /usr/local/bin/serve-docs
RUN useradd --create-home --shell /bin/bash learner
COPY --from=build --chown=learner:learner /opt/asio-sandbox/share/asio-sandbox/chapters/ /home/learner/chapters/
# docker build --build-arg REVISION=$(git rev-parse HEAD) --build-arg SOURCE=URL
# says which commit and repository an image was made from.
ARG REVISION=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="asio-sandbox" \
      org.opencontainers.image.description="The asyncio echo lesson retold in C++20 with Asio: the chapters' programs, their Python references and the docs" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}"
USER learner
WORKDIR /home/learner
EXPOSE 2222 8000
# The kernel gives PID 1 no default signal actions: a program that installs
# no handler (busybox httpd) ignores docker stop's SIGTERM and Ctrl-C's
# SIGINT there, and is killed ten seconds later. tini is PID 1 instead: it
# passes each signal on to the program, which then dies of it at once, and
# it reaps orphaned processes, another job of an init.
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["asio-sandbox-welcome"]
