/* LD_PRELOAD helper for nsexec -l: enter the mount namespace named by __MNTEXEC_PATH once the
   program has been loaded from the caller's filesystem. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void nsenter_mnt(void) {
	const char *p = getenv("__MNTEXEC_PATH");
	if (p) {
		int fd = open(p, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || setns(fd, CLONE_NEWNS) < 0) { perror("libnsenter: setns mnt"); _exit(126); }
		close(fd);
	}
	unsetenv("LD_PRELOAD");
	unsetenv("__MNTEXEC_PATH");
}
