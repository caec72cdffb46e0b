/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: the one privileged piece of qemu-power.  A small
 * root daemon on a UNIX socket (systemd socket activation or its own)
 * that serves the host's RAPL energy and applies host power policy for
 * the peers its options allow (docs/power-helper.rst).  This file: the
 * options, the socket, the capabilities and the poll loop.
 */

#include "qemu/osdep.h"
#include <getopt.h>
#include <glib-unix.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#ifdef CONFIG_HELPER_CAP_NG
#include <cap-ng.h>
#endif
#include "qapi/error.h"
#include "qemu/host-sysfs.h"
#include "arbiter.h"
#include "energy.h"
#include "helper.h"

#define DEFAULT_SOCKET "/run/qemu-power-helper.sock"
#define DEFAULT_STATE "/var/lib/qemu-power-helper/state.json"

/* Clients at once; each costs at most two line buffers. */
#define MAX_CLIENTS 256

/* Replies a client has not read yet, beyond which it is dropped. */
#define MAX_PENDING (4 * HELPER_LINE_MAX)

/* The first fd systemd passes (sd_listen_fds(3)). */
#define LISTEN_FDS_START 3

typedef struct Client {
    Peer peer;
    int fd;
    GString *in;                /* bytes of the line being read */
    GString *out;               /* replies not yet sent */
} Client;

static Helper helper;
static GPtrArray *clients;      /* Client */

void helper_log(const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "qemu-power-helper: %s\n", msg);
}

static void usage(FILE *f)
{
    fprintf(f,
"Usage: qemu-power-helper [OPTION]...\n"
"Serve host RAPL energy and apply host power policy for QEMU and\n"
"qemu-powerd over a UNIX socket (see docs/power-helper.rst).\n"
"\n"
"  --socket PATH          listen on PATH (default " DEFAULT_SOCKET ");\n"
"                         a socket passed by systemd takes precedence\n"
"  --sysfs-root DIR       the sysfs to use (default /sys)\n"
"  --state-file FILE      where originals are kept (default\n"
"                         " DEFAULT_STATE ")\n"
"  --allow-energy WHO     let user WHO, or group @WHO, read energy\n"
"  --allow-policy WHO     let WHO change policy (both repeatable; root is\n"
"                         not implied)\n"
"  --energy-source SRC    auto (default), perf, powercap or msr\n"
"  -h, --help             show this and exit\n"
"  --version              show the version and exit\n");
}

static void G_GNUC_PRINTF(1, 2) die_usage(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "qemu-power-helper: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'qemu-power-helper --help'.\n");
    va_end(ap);
    exit(1);
}

static void acl_add(HelperAcl *acl, const char *who, const char *opt)
{
    if (!acl->uids) {
        acl->uids = g_array_new(false, false, sizeof(uid_t));
        acl->gids = g_array_new(false, false, sizeof(gid_t));
    }
    if (who[0] == '@') {
        struct group *gr = getgrnam(who + 1);

        if (!who[1] || !gr) {
            die_usage("%s %s: no such group", opt, who);
        }
        g_array_append_val(acl->gids, gr->gr_gid);
    } else {
        struct passwd *pw = *who ? getpwnam(who) : NULL;

        if (!pw) {
            die_usage("%s %s: no such user", opt, who);
        }
        g_array_append_val(acl->uids, pw->pw_uid);
    }
}

static bool acl_has_gid(const HelperAcl *acl, gid_t gid)
{
    for (guint i = 0; acl->gids && i < acl->gids->len; i++) {
        if (g_array_index(acl->gids, gid_t, i) == gid) {
            return true;
        }
    }
    return false;
}

/* Does @acl allow @uid, whose primary group is @gid? */
static bool acl_allows(const HelperAcl *acl, uid_t uid, gid_t gid)
{
    struct passwd *pw;
    gid_t groups[256];
    int n = ARRAY_SIZE(groups);

    for (guint i = 0; acl->uids && i < acl->uids->len; i++) {
        if (g_array_index(acl->uids, uid_t, i) == uid) {
            return true;
        }
    }
    if (acl_has_gid(acl, gid)) {
        return true;
    }
    /* the user's supplementary groups, as the system lists them */
    pw = getpwuid(uid);
    if (!pw || getgrouplist(pw->pw_name, gid, groups, &n) < 0) {
        return false;
    }
    for (int i = 0; i < n; i++) {
        if (acl_has_gid(acl, groups[i])) {
            return true;
        }
    }
    return false;
}

/* The socket systemd passed us, or -1. */
static int listen_fd_from_systemd(void)
{
    const char *pid = g_getenv("LISTEN_PID");
    const char *fds = g_getenv("LISTEN_FDS");
    guint64 p, n;

    if (!pid || !fds ||
        !g_ascii_string_to_unsigned(pid, 10, 1, G_MAXINT, &p, NULL) ||
        p != getpid() ||
        !g_ascii_string_to_unsigned(fds, 10, 0, 64, &n, NULL)) {
        return -1;
    }
    g_unsetenv("LISTEN_PID");
    g_unsetenv("LISTEN_FDS");
    g_unsetenv("LISTEN_FDNAMES");
    if (n != 1) {
        helper_log("systemd passed %u sockets; one is wanted", (unsigned)n);
        exit(1);
    }
    qemu_set_cloexec(LISTEN_FDS_START);
    return LISTEN_FDS_START;
}

static int listen_on(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(sun.sun_path)) {
        die_usage("--socket %s: the path is too long", path);
    }
    strcpy(sun.sun_path, path);
    /* a stale socket of ours goes; anything else is an error */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            helper_log("%s exists and is not a socket", path);
            exit(1);
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 64) < 0) {
        helper_log("could not listen on %s: %s", path, strerror(errno));
        exit(1);
    }
    /* who may connect is decided per request; the mode lets them try */
    chmod(path, 0666);
    return fd;
}

/*
 * Keep no capability: the counters are opened already (perf and MSR
 * fds need CAP_PERFMON or CAP_SYS_RAWIO only to be opened), and as uid
 * 0 the helper reads the 0400 and writes the 0644 files of root as
 * their owner, without CAP_DAC_OVERRIDE.  No new privileges either.
 */
static void drop_privileges(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        helper_log("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
        exit(1);
    }
#ifdef CONFIG_HELPER_CAP_NG
    capng_clear(CAPNG_SELECT_BOTH);
    if (capng_apply(CAPNG_SELECT_BOTH) < 0) {
        helper_log("could not drop capabilities");
        exit(1);
    }
    helper_log("capabilities: none kept (%s)",
               capng_have_capabilities(CAPNG_SELECT_CAPS) == CAPNG_NONE ?
               "checked" : "NOT dropped");
#else
    helper_log("built without libcap-ng: capabilities not dropped");
#endif
}

static void client_free(Client *c)
{
    close(c->fd);
    g_string_free(c->in, true);
    g_string_free(c->out, true);
    g_free(c->peer.name);
    g_free(c);
}

static void client_drop(guint i, const char *why)
{
    Client *c = g_ptr_array_index(clients, i);
    g_autofree char *who = peer_describe(&c->peer);

    if (why) {
        helper_log("%s: dropped: %s", who, why);
    }
    arbiter_release(helper.arbiter, &c->peer);
    g_ptr_array_remove_index(clients, i);
    client_free(c);
}

static void accept_client(int lfd)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    Client *c;
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (fd < 0) {
        return;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
        close(fd);
        return;
    }
    if (clients->len >= MAX_CLIENTS) {
        helper_log("pid %d uid %u: refused, %d clients already",
                   (int)cred.pid, (unsigned)cred.uid, MAX_CLIENTS);
        close(fd);
        return;
    }
    c = g_new0(Client, 1);
    c->fd = fd;
    c->in = g_string_new("");
    c->out = g_string_new("");
    c->peer.id = ++helper.next_client_id;
    c->peer.pid = cred.pid;
    c->peer.uid = cred.uid;
    c->peer.gid = cred.gid;
    c->peer.may_energy = acl_allows(&helper.energy_acl, cred.uid, cred.gid);
    c->peer.may_policy = acl_allows(&helper.policy_acl, cred.uid, cred.gid);
    g_ptr_array_add(clients, c);
    {
        g_autofree char *greeting = helper_greeting();

        g_string_append(c->out, greeting);
    }
}

/* Answer every whole line of @c's input.  False: drop the client. */
static bool client_lines(Client *c, const char **why)
{
    char *nl;

    while ((nl = memchr(c->in->str, '\n', c->in->len))) {
        size_t len = nl - c->in->str;
        g_autofree char *r = helper_handle_line(&helper, &c->peer,
                                                c->in->str, len);

        g_string_append(c->out, r);
        g_string_erase(c->in, 0, len + 1);
        if (c->out->len > MAX_PENDING) {
            *why = "does not read its replies";
            return false;
        }
    }
    if (c->in->len >= HELPER_LINE_MAX) {
        *why = "a line longer than 65536 bytes";
        return false;
    }
    return true;
}

/* Read what @c sent; false: drop it (@why NULL: it just left). */
static bool client_read(Client *c, const char **why)
{
    char buf[4096];
    ssize_t n;

    *why = NULL;
    /* a bounded amount per wakeup, so that one client cannot starve */
    for (int i = 0; i < 16 && c->in->len < HELPER_LINE_MAX; i++) {
        n = read(c->fd, buf, MIN(sizeof(buf),
                                 HELPER_LINE_MAX - c->in->len));
        if (n == 0) {
            return false;
        }
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                break;
            }
            *why = "read error";
            return false;
        }
        g_string_append_len(c->in, buf, n);
        if (!client_lines(c, why)) {
            return false;
        }
        if (c->out->len) {
            break;              /* replies first, then more requests */
        }
    }
    return true;
}

/* Send what @c has not read yet; false: drop it (@why NULL: it left). */
static bool client_write(Client *c, const char **why)
{
    ssize_t n = send(c->fd, c->out->str, c->out->len, MSG_NOSIGNAL);

    *why = NULL;
    if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) {
            return true;
        }
        /* a peer that closed before reading its replies just left */
        if (errno != EPIPE && errno != ECONNRESET) {
            *why = "write error";
        }
        return false;
    }
    g_string_erase(c->out, 0, n);
    return true;
}

static int signal_fd(void)
{
    sigset_t set;
    int fd;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        helper_log("signalfd: %s", strerror(errno));
        exit(1);
    }
    return fd;
}

static void run(int lfd, int sfd)
{
    g_autoptr(GArray) pfds = g_array_new(false, false,
                                         sizeof(struct pollfd));

    for (;;) {
        int64_t now = g_get_monotonic_time();
        int64_t deadline;
        int timeout = -1;
        struct pollfd p = { .fd = lfd, .events = POLLIN };

        helper_energy_tick(helper.energy, now);
        deadline = helper_energy_deadline(helper.energy);
        if (deadline >= 0) {
            timeout = MAX(0, (deadline - now + 999) / 1000);
        }
        g_array_set_size(pfds, 0);
        g_array_append_val(pfds, p);
        p.fd = sfd;
        g_array_append_val(pfds, p);
        for (guint i = 0; i < clients->len; i++) {
            Client *c = g_ptr_array_index(clients, i);

            p.fd = c->fd;
            /* backpressure: no new request while replies wait */
            p.events = c->out->len ? POLLOUT : POLLIN;
            g_array_append_val(pfds, p);
        }
        if (poll((struct pollfd *)pfds->data, pfds->len, timeout) < 0) {
            if (errno == EINTR) {
                continue;
            }
            helper_log("poll: %s", strerror(errno));
            return;
        }
        if (g_array_index(pfds, struct pollfd, 1).revents) {
            struct signalfd_siginfo si;

            if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
                helper_log("signal %u: stopping", si.ssi_signo);
                return;
            }
        }
        /* clients in reverse, so that dropping one keeps the indexes */
        for (guint i = clients->len; i-- > 0;) {
            struct pollfd *cp = &g_array_index(pfds, struct pollfd, i + 2);
            Client *c = g_ptr_array_index(clients, i);
            const char *why = NULL;

            if (!cp->revents) {
                continue;
            }
            if ((cp->revents & POLLOUT) && !client_write(c, &why)) {
                client_drop(i, why);
                continue;
            }
            if ((cp->revents & (POLLIN | POLLHUP | POLLERR)) &&
                !c->out->len && !client_read(c, &why)) {
                client_drop(i, why);
                continue;
            }
            if ((cp->revents & (POLLHUP | POLLERR)) && c->out->len) {
                client_drop(i, NULL);
            }
        }
        if (g_array_index(pfds, struct pollfd, 0).revents & POLLIN) {
            accept_client(lfd);
        }
    }
}

int main(int argc, char **argv)
{
    enum {
        OPT_SOCKET = 256, OPT_SYSFS_ROOT, OPT_STATE_FILE, OPT_ALLOW_ENERGY,
        OPT_ALLOW_POLICY, OPT_ENERGY_SOURCE, OPT_VERSION,
    };
    static const struct option longopts[] = {
        { "socket", required_argument, NULL, OPT_SOCKET },
        { "sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT },
        { "state-file", required_argument, NULL, OPT_STATE_FILE },
        { "allow-energy", required_argument, NULL, OPT_ALLOW_ENERGY },
        { "allow-policy", required_argument, NULL, OPT_ALLOW_POLICY },
        { "energy-source", required_argument, NULL, OPT_ENERGY_SOURCE },
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, OPT_VERSION },
        { NULL, 0, NULL, 0 },
    };
    const char *socket_path = DEFAULT_SOCKET;
    const char *state_file = DEFAULT_STATE;
    const char *root = HOST_SYSFS_DEFAULT_ROOT;
    HostEnergySource source = HOST_ENERGY__MAX;
    const char *own_socket = NULL;
    Error *err = NULL;
    int opt, lfd, sfd;

    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (opt) {
        case OPT_SOCKET:
            socket_path = optarg;
            break;
        case OPT_SYSFS_ROOT:
            root = optarg;
            break;
        case OPT_STATE_FILE:
            state_file = optarg;
            break;
        case OPT_ALLOW_ENERGY:
            acl_add(&helper.energy_acl, optarg, "--allow-energy");
            break;
        case OPT_ALLOW_POLICY:
            acl_add(&helper.policy_acl, optarg, "--allow-policy");
            break;
        case OPT_ENERGY_SOURCE:
            if (!strcmp(optarg, "auto")) {
                source = HOST_ENERGY__MAX;
            } else if (!strcmp(optarg, "perf")) {
                source = HOST_ENERGY_PERF;
            } else if (!strcmp(optarg, "powercap")) {
                source = HOST_ENERGY_POWERCAP;
            } else if (!strcmp(optarg, "msr")) {
                source = HOST_ENERGY_MSR;
            } else {
                die_usage("--energy-source %s: auto, perf, powercap or msr",
                          optarg);
            }
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("qemu-power-helper, protocol version 1%s\n",
#ifdef CONFIG_HELPER_CAP_NG
                   ""
#else
                   " (without libcap-ng)"
#endif
                   );
            return 0;
        default:
            die_usage("unknown option");
        }
    }
    if (optind < argc) {
        die_usage("unexpected argument '%s'", argv[optind]);
    }
    if (!*state_file || !g_path_is_absolute(state_file)) {
        die_usage("--state-file %s: an absolute path is needed", state_file);
    }

    /* every host file beneath the root, opened through one fd */
    if (!host_sysfs_confine(root, &err)) {
        helper_log("--sysfs-root: %s", error_get_pretty(err));
        return 1;
    }
    helper.sysfs_root = g_strdup(root);
    while (strlen(helper.sysfs_root) > 1 &&
           g_str_has_suffix(helper.sysfs_root, "/")) {
        helper.sysfs_root[strlen(helper.sysfs_root) - 1] = '\0';
    }
    {
        g_autofree char *dir = g_path_get_dirname(state_file);

        if (g_mkdir_with_parents(dir, 0700) < 0) {
            helper_log("could not create %s: %s", dir, strerror(errno));
            return 1;
        }
    }
    helper.arbiter = arbiter_new(helper.sysfs_root, state_file, &err);
    if (!helper.arbiter) {
        helper_log("%s", error_get_pretty(err));
        return 1;
    }
    clients = g_ptr_array_new();
    sfd = signal_fd();
    lfd = listen_fd_from_systemd();
    if (lfd < 0) {
        lfd = listen_on(socket_path);
        own_socket = socket_path;
    }
    g_unix_set_fd_nonblocking(lfd, true, NULL);
    helper.energy = helper_energy_new(helper.sysfs_root, source);
    drop_privileges();
    helper_log("ready, sysfs root %s", helper.sysfs_root);

    run(lfd, sfd);

    while (clients->len) {
        client_drop(clients->len - 1, NULL);
    }
    if (own_socket) {
        unlink(own_socket);
    }
    arbiter_restore_all(helper.arbiter);
    helper_log("stopped; %u knobs could not be restored",
               arbiter_knobs(helper.arbiter));
    return arbiter_knobs(helper.arbiter) ? 1 : 0;
}
