// SPDX-License-Identifier: GPL-2.0
/*
 * floods.c - flood workloads for tests/kernel/test_floods.py, each counting
 * exactly what it did so the test can compare ebpftop's numbers with it.
 *
 * Every mode first prints "ready\n", then waits for one byte on stdin (so
 * ebpftop can be started and made live first), floods, and prints its own
 * counts as "<pid> <count>" lines, then "done <total>".
 *
 *   spin  NPROC SECONDS            NPROC children call getppid() in a loop
 *   forks NFORKERS SECONDS RATE    fork() + _exit(0) + waitpid() loops; RATE is the
 *                                  total spawns/s to pace at (0: as fast as possible)
 *   mkfiles DIR N                  create DIR/f000000.. with one byte each (no gate)
 *   files DIR N                    open, read (1 byte), close each of them once
 *   rmfiles DIR N                  unlink them (no gate)
 *   udp  DSTIP PORT SECONDS SIZE   send SIZE-byte UDP datagrams as fast as possible
 *   readloop FILE SECONDS          NPROC=1: pread() one byte of FILE in a loop
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);	/* vDSO: no syscall */
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void gate(void)
{
	char c;
	printf("ready\n");
	fflush(stdout);
	if (read(0, &c, 1) != 1)
		exit(3);
}

struct slot { volatile int pid; volatile long count; };

static struct slot *shared(int n)
{
	void *p = mmap(NULL, sizeof(struct slot) * n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

static void report(struct slot *s, int n)
{
	long total = 0;
	for (int i = 0; i < n; i++) {
		printf("%d %ld\n", s[i].pid, s[i].count);
		total += s[i].count;
	}
	printf("done %ld\n", total);
	fflush(stdout);
}

/* The children wait on the go pipe: open it after the gate, reap them, print their counts. */
static int release_and_report(int go[2], struct slot *s, int n)
{
	close(go[0]);
	gate();
	close(go[1]);
	while (wait(NULL) > 0)
		;
	report(s, n);
	return 0;
}

/* Start n children running fn(i, arg...) after the gate; wait for them all. */
static int spin(int n, double seconds)
{
	struct slot *s = shared(n);
	int go[2];
	if (pipe(go))
		return 2;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) < 0)	/* EOF when the parent closes: go */
				_exit(3);
			long count = 0;
			double end = now() + seconds;
			for (;;) {
				for (int k = 0; k < 1024; k++)
					syscall(SYS_getppid);
				count += 1024;
				if (now() >= end)
					break;
			}
			s[i].count = count;
			_exit(0);
		}
		s[i].pid = pid;
	}
	return release_and_report(go, s, n);
}

static int forks(int n, double seconds, double rate)
{
	struct slot *s = shared(n);
	int go[2];
	if (pipe(go))
		return 2;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(3);
			long count = 0;
			double start = now(), end = start + seconds;
			double each = rate > 0 ? n / rate : 0;	/* seconds between this forker's spawns */
			while (now() < end) {
				if (each > 0) {
					double due = start + count * each, t = now();
					if (due > t) {
						struct timespec ts = { (time_t)(due - t), (long)((due - t - (time_t)(due - t)) * 1e9) };
						nanosleep(&ts, NULL);
					}
				}
				pid_t child = fork();
				if (child == 0)
					_exit(0);
				if (child < 0) {
					if (errno == EAGAIN)
						continue;
					_exit(4);
				}
				waitpid(child, NULL, 0);
				count++;
			}
			s[i].count = count;
			_exit(0);
		}
		s[i].pid = pid;
	}
	return release_and_report(go, s, n);
}

static int files(const char *mode, const char *dir, long n)
{
	char path[4096], buf[4096];
	long done = 0;
	if (strcmp(mode, "files") == 0)
		gate();
	for (long i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/f%06ld", dir, i);
		if (strcmp(mode, "mkfiles") == 0) {
			int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || write(fd, "x", 1) != 1) {
				perror(path);
				return 2;
			}
			close(fd);
		} else if (strcmp(mode, "files") == 0) {
			int fd = open(path, O_RDONLY);
			if (fd < 0 || read(fd, buf, sizeof(buf)) != 1) {
				perror(path);
				return 2;
			}
			close(fd);
		} else if (unlink(path)) {
			perror(path);
			return 2;
		}
		done++;
	}
	/* One write() for the whole report: the test accounts for it exactly. */
	int len = snprintf(buf, sizeof(buf), "%d %ld\ndone %ld\n", getpid(), done, done);
	if (write(1, buf, len) != len)
		return 2;
	return 0;
}

static int udp(const char *ip, int port, double seconds, int size)
{
	char buf[65536] = {0};
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || inet_pton(AF_INET, ip, &to.sin_addr) != 1)
		return 2;
	gate();
	long sent = 0, failed = 0;
	double end = now() + seconds;
	while (now() < end) {
		for (int k = 0; k < 64; k++) {
			if (sendto(fd, buf, size, 0, (struct sockaddr *)&to, sizeof(to)) == size)
				sent++;
			else
				failed++;
		}
	}
	printf("%d %ld\nfailed %ld\ndone %ld\n", getpid(), sent, failed, sent);
	fflush(stdout);
	return 0;
}

static int readloop(const char *path, double seconds)
{
	char c;
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		perror(path);
		return 2;
	}
	gate();
	long count = 0;
	double end = now() + seconds;
	while (now() < end) {
		for (int k = 0; k < 256; k++)
			if (pread(fd, &c, 1, 0) == 1)
				count++;
	}
	printf("%d %ld\ndone %ld\n", getpid(), count, count);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "spin") == 0)
		return spin(atoi(argv[2]), atof(argv[3]));
	if (argc == 5 && strcmp(argv[1], "forks") == 0)
		return forks(atoi(argv[2]), atof(argv[3]), atof(argv[4]));
	if (argc == 4 && (!strcmp(argv[1], "mkfiles") || !strcmp(argv[1], "files") || !strcmp(argv[1], "rmfiles")))
		return files(argv[1], argv[2], atol(argv[3]));
	if (argc == 6 && strcmp(argv[1], "udp") == 0)
		return udp(argv[2], atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
	if (argc == 4 && strcmp(argv[1], "readloop") == 0)
		return readloop(argv[2], atof(argv[3]));
	fprintf(stderr, "usage: see floods.c\n");
	return 2;
}
