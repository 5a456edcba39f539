/* peak_rss CMD [ARGS...]: runs CMD (its standard output to /dev/null) and prints its peak
 * resident set in KiB, then exits with CMD's status.
 *
 * For tests/check_memory.py. A process started by Python inherits Python's own peak: Linux
 * carries a process's high-water mark over exec, and a child made by fork (or vfork) starts
 * from its parent's pages. This helper is small, so the child it forks starts near nothing and
 * its peak is the command's own. */
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: peak_rss CMD [ARGS...]\n");
        return 2;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("peak_rss: fork");
        return 2;
    }
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) dup2(fd, 1);
        execvp(argv[1], argv + 1);
        perror("peak_rss: exec");
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid) {
        perror("peak_rss: waitpid");
        return 2;
    }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    printf("%ld\n", ru.ru_maxrss);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
