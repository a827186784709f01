// SPDX-License-Identifier: GPL-2.0
/*
 * loops.c - the bare workloads bench/run.py times, in C so the number is the
 * syscall (and the probe on it), not an interpreter's loop.
 *   loops getppid N     N getppid() calls
 *   loops read N        N 1-byte read()s of /dev/zero
 *   loops spawn N       N fork+exec of /bin/true, each waited for
 *   loops udp N IP PORT N 64-byte UDP datagrams to IP:PORT (a veth peer in
 *                       a namespace bench/run.py made)
 * Prints nanoseconds per operation on stdout.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: loops getppid|read|spawn N | udp N IP PORT\n");
		return 2;
	}
	long n = atol(argv[2]);
	char buf[1];
	double t0, t1;

	if (!strcmp(argv[1], "getppid")) {
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		t1 = now_ns();
	} else if (!strcmp(argv[1], "read")) {
		int fd = open("/dev/zero", O_RDONLY);
		if (fd < 0)
			return 1;
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			if (read(fd, buf, 1) != 1)
				return 1;
		t1 = now_ns();
		close(fd);
	} else if (!strcmp(argv[1], "spawn")) {
		char *args[] = { "/bin/true", NULL };
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			pid_t pid = fork();
			if (pid == 0) {
				execv(args[0], args);
				_exit(127);
			}
			int status;
			waitpid(pid, &status, 0);
		}
		t1 = now_ns();
	} else if (!strcmp(argv[1], "udp") && argc == 5) {
		char payload[64] = { 0 };
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[4])) };
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0 || inet_pton(AF_INET, argv[3], &to.sin_addr) != 1 ||
		    connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0)
			return 1;
		t0 = now_ns();
		for (long i = 0; i < n; i++)
			send(fd, payload, sizeof(payload), 0); /* ECONNREFUSED now and then is fine */
		t1 = now_ns();
		close(fd);
	} else {
		fprintf(stderr, "loops: unknown workload %s\n", argv[1]);
		return 2;
	}
	printf("%.3f\n", (t1 - t0) / n);
	return 0;
}
