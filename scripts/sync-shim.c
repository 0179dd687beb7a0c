/* An LD_PRELOAD shim around fsync(2) and fdatasync(2), for the durability test (Tests/MynahTests/DurabilityTests)
 * and scripts/durability-cost.sh. Never loaded by the daemon in production.
 *
 *   MYNAH_SYNC_LOG=FILE  after each successful call, appends "fdatasync PATH" or "fsync PATH" to FILE, PATH being
 *                        the file the descriptor names (/proc/self/fd), so a test can count the syncs of one file.
 *   MYNAH_SYNC_SKIP=1    returns 0 without calling the real function: the same writes without their flushes, which is
 *                        what SQLite does under synchronous = NORMAL; only for measuring what the flushes cost.
 *
 * Build: cc -shared -fPIC -O1 -o sync-shim.so sync-shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static void record(const char *call, int fd) {
    const char *log = getenv("MYNAH_SYNC_LOG");
    if (log == NULL) return;
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n < 0) n = 0;
    path[n] = 0;
    char line[4200];
    int length = snprintf(line, sizeof line, "%s %s\n", call, path);
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (out < 0) return;
    /* One write(2) per line with O_APPEND: lines of concurrent callers do not interleave. A short write only makes
     * the count smaller, which fails the test rather than passing it. */
    if (write(out, line, (size_t)length) < 0) { /* nothing better to do */ }
    close(out);
}

static int skipping(void) {
    const char *skip = getenv("MYNAH_SYNC_SKIP");
    return skip != NULL && skip[0] == '1';
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int result = skipping() ? 0 : real(fd);
    if (result == 0) record("fdatasync", fd);
    return result;
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int result = skipping() ? 0 : real(fd);
    if (result == 0) record("fsync", fd);
    return result;
}
