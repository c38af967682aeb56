/*
 * A workload whose system calls the kernel tests can count exactly: built statically (no
 * dynamic loader, so no start-up openat/mmap of libraries), run under a per-test unique name
 * (its comm), it makes exactly the calls asked for and nothing else of those kinds.
 *
 *   workload openat-missing N        N x openat("/nonexistent-eop-workload") -> ENOENT
 *   workload getppid N               N x getppid()
 *   workload sleep N USEC            N x clock_nanosleep(CLOCK_MONOTONIC, USEC microseconds)
 *   workload yield N                 N x sched_yield()
 *   workload udp PORT N              N x a 1-byte UDP datagram to 127.0.0.1:PORT (closed port)
 *   workload unlink-missing N [PATH] N x unlinkat(AT_FDCWD, PATH) of a missing file -> ENOENT
 *                                    (default /nonexistent-eop-workload; on a read-only root
 *                                    that is EROFS, so give a path on a writable file system)
 *   workload udp-flood PORT N SIZE   binds a receiver on 127.0.0.1:PORT with the smallest receive
 *                                    buffer, sends it N datagrams of SIZE bytes without reading,
 *                                    then drains it and prints how many were queued (the rest were
 *                                    dropped for want of buffer)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long count(const char *text) {
	char *end;
	long n = strtol(text, &end, 10);
	if (*end != '\0' || n < 0) {
		fprintf(stderr, "workload: bad number %s\n", text);
		exit(2);
	}
	return n;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: workload openat-missing|getppid|sleep|yield|udp|unlink-missing ...\n");
		return 2;
	}
	const char *what = argv[1];
	if (strcmp(what, "openat-missing") == 0) {
		for (long i = count(argv[2]); i > 0; i--) syscall(SYS_openat, AT_FDCWD, "/nonexistent-eop-workload", O_RDONLY);
	} else if (strcmp(what, "unlink-missing") == 0) {
		const char *path = argc > 3 ? argv[3] : "/nonexistent-eop-workload";
		for (long i = count(argv[2]); i > 0; i--) syscall(SYS_unlinkat, AT_FDCWD, path, 0);
	} else if (strcmp(what, "getppid") == 0) {
		for (long i = count(argv[2]); i > 0; i--) syscall(SYS_getppid);
	} else if (strcmp(what, "yield") == 0) {
		for (long i = count(argv[2]); i > 0; i--) syscall(SYS_sched_yield);
	} else if (strcmp(what, "sleep") == 0 && argc == 4) {
		long usec = count(argv[3]);
		struct timespec ts = { .tv_sec = usec / 1000000, .tv_nsec = (usec % 1000000) * 1000 };
		for (long i = count(argv[2]); i > 0; i--) syscall(SYS_clock_nanosleep, CLOCK_MONOTONIC, 0, &ts, NULL);
	} else if (strcmp(what, "udp") == 0 && argc == 4) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((unsigned short)count(argv[2])) };
		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int fd = socket(AF_INET, SOCK_DGRAM, 0);
		if (fd < 0) {
			perror("socket");
			return 1;
		}
		for (long i = count(argv[3]); i > 0; i--) sendto(fd, "x", 1, 0, (struct sockaddr *)&to, sizeof(to));
		close(fd);
	} else if (strcmp(what, "udp-flood") == 0 && argc == 5) {
		struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((unsigned short)count(argv[2])) };
		long n = count(argv[3]), size = count(argv[4]), queued = 0;
		int small = 1, rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
		char buf[65536] = { 0 };
		struct timespec settle = { .tv_sec = 0, .tv_nsec = 200 * 1000 * 1000 };

		to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (rx < 0 || tx < 0 || size <= 0 || size > (long)sizeof(buf) ||
		    setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) < 0 ||
		    bind(rx, (struct sockaddr *)&to, sizeof(to)) < 0) {
			perror("udp-flood");
			return 1;
		}
		for (long i = 0; i < n; i++) sendto(tx, buf, (size_t)size, 0, (struct sockaddr *)&to, sizeof(to));
		nanosleep(&settle, NULL); /* let every datagram reach the receiver before draining */
		while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) >= 0) queued++;
		printf("%ld\n", queued);
	} else {
		fprintf(stderr, "workload: unknown workload %s\n", what);
		return 2;
	}
	return 0;
}
