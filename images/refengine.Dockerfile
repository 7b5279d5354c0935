# refengine as a container image: the static binary alone (built with CGO_ENABLED=0 by
# `make images`), no shell, no package manager. The Makefile's build context holds the binary at
# ./refengine and an empty ./tmp.
FROM scratch
COPY refengine /refengine
COPY tmp /tmp
ENTRYPOINT ["/refengine"]
