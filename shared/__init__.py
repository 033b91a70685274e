"""The project's shared code. Importing it first makes multiprocess metrics skip a system call per update
(`shared.multiproc`): it must happen before any metric is built."""

from shared import multiproc

multiproc.install()
