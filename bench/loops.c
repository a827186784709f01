// SPDX-License-Identifier: GPL-2.0
/*
 * loops.c - the bare workloads bench/run.py times, in C so the number is the
 * syscall (and the probe on it), not an interpreter's loop.
 *   loops getppid N     N getppid() calls
 *   loops read N        N 1-byte read()s of /dev/zero
 *   loops spawn N       N fork+exec of /bin/true, each waited for
 *   loops udp N IP PORT N 64-byte UDP datagrams to IP:PORT (a veth peer in
 *                       a namespace bench/run.py made)
 *   loops files N DIR   N distinct files: create, write 1 byte, read it back,
 *                       close and unlink DIR/f<i>
 *   loops load N F S DIR  background load for the self-cost section: N
 *                       processes holding F files in DIR between them, each
 *                       process writing and reading each of its files ten
 *                       times a second for S seconds
 * Prints nanoseconds per operation on stdout (load: per process-second).
 * getppid and read time the loop in this thread's CPU time, not wall time:
 * a tracepoint program runs in the calling task and is counted in it, while
 * time the loop spends preempted (a shared or busy box) is not.
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

static double cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: loops getppid|read|spawn N | udp N IP PORT | files N DIR | load N F S DIR\n");
		return 2;
	}
	long n = atol(argv[2]);
	char buf[1];
	double t0, t1;

	if (!strcmp(argv[1], "getppid")) {
		t0 = cpu_ns();
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		t1 = cpu_ns();
	} else if (!strcmp(argv[1], "read")) {
		int fd = open("/dev/zero", O_RDONLY);
		if (fd < 0)
			return 1;
		t0 = cpu_ns();
		for (long i = 0; i < n; i++)
			if (read(fd, buf, 1) != 1)
				return 1;
		t1 = cpu_ns();
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
	} else if (!strcmp(argv[1], "files") && argc == 4) {
		char path[4096];
		t0 = now_ns();
		for (long i = 0; i < n; i++) {
			snprintf(path, sizeof(path), "%s/f%ld", argv[3], i);
			int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || pwrite(fd, "x", 1, 0) != 1 || pread(fd, buf, 1, 0) != 1)
				return 1;
			close(fd);
			unlink(path);
		}
		t1 = now_ns();
	} else if (!strcmp(argv[1], "load") && argc == 6) {
		long files = atol(argv[3]);
		double until = now_ns() + atof(argv[4]) * 1e9;
		char path[4096], block[64] = { 0 };
		t0 = now_ns();
		for (long p = 0; p < n; p++) {
			if (fork() != 0)
				continue;
			long mine = files / n + (p < files % n);
			int *fds = calloc(mine, sizeof(int));
			for (long f = 0; f < mine; f++) {
				snprintf(path, sizeof(path), "%s/p%ld-f%ld", argv[5], p, f);
				fds[f] = open(path, O_RDWR | O_CREAT, 0600);
				if (fds[f] < 0)
					_exit(1);
			}
			while (now_ns() < until) {
				for (long f = 0; f < mine; f++) {
					pwrite(fds[f], block, sizeof(block), 0);
					pread(fds[f], block, sizeof(block), 0);
				}
				usleep(100000);
			}
			_exit(0);
		}
		int status, failed = 0;
		while (wait(&status) > 0)
			failed |= !WIFEXITED(status) || WEXITSTATUS(status) != 0;
		t1 = now_ns();
		if (failed)
			return 1;
	} else {
		fprintf(stderr, "loops: unknown workload %s\n", argv[1]);
		return 2;
	}
	printf("%.3f\n", (t1 - t0) / n);
	return 0;
}
