/* udp-echo PORT: answers every UDP datagram on 0.0.0.0:PORT with "echo: " and its bytes, and
 * prints each one on stdout. busybox-static has no UDP tool; the tests' udpecho image runs this
 * (linked statically by tests/images/build.py) to check published UDP ports end to end. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: udp-echo PORT\n");
        return 2;
    }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[1]))};
    if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("udp-echo");
        return 1;
    }
    printf("listening on udp %s\n", argv[1]);
    fflush(stdout);
    char in[2048], out[2100];
    for (;;) {
        struct sockaddr_in peer;
        socklen_t len = sizeof peer;
        ssize_t n = recvfrom(s, in, sizeof in, 0, (struct sockaddr *)&peer, &len);
        if (n < 0)
            continue;
        memcpy(out, "echo: ", 6);
        memcpy(out + 6, in, (size_t)n);
        sendto(s, out, (size_t)n + 6, 0, (struct sockaddr *)&peer, len);
        printf("got %zd bytes\n", n);
        fflush(stdout);
    }
}
