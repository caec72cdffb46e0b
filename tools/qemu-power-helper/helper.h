/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: the state shared by its parts (see
 * docs/power-helper.rst for what it does and why).
 */

#ifndef QEMU_POWER_HELPER_H
#define QEMU_POWER_HELPER_H

/* Longest request line, newline included (the protocol's limit). */
#define HELPER_LINE_MAX 65536

/* Longest client name of "hello". */
#define HELPER_NAME_MAX 256

typedef struct Arbiter Arbiter;
typedef struct HelperEnergy HelperEnergy;

/* Who may do what: uids and gids, resolved at start. */
typedef struct HelperAcl {
    GArray *uids;               /* uid_t */
    GArray *gids;               /* gid_t */
} HelperAcl;

typedef struct Helper {
    char *sysfs_root;           /* stands for /sys */
    HelperAcl energy_acl;
    HelperAcl policy_acl;
    Arbiter *arbiter;
    HelperEnergy *energy;
    uint64_t next_client_id;
} Helper;

/* One connected client. */
typedef struct Peer {
    uint64_t id;                /* unique in this run, for the arbiter */
    pid_t pid;
    uid_t uid;
    gid_t gid;
    char *name;                 /* from hello, escaped; NULL before */
    bool keep;                  /* hello's keep */
    bool may_energy;
    bool may_policy;
} Peer;

/* Log one line to stderr (journald), printf-style. */
void helper_log(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* "pid 12 uid 0 name 'vm1'" for the log. */
char *peer_describe(const Peer *peer);

/*
 * Answer one request line of @len bytes (no newline; need not be
 * NUL-terminated) from @peer: the reply as a JSON line ending in '\n'.
 * Never fails: what is wrong with the request is in the reply.
 */
char *helper_handle_line(Helper *h, Peer *peer, const char *line,
                         size_t len);

/* The greeting sent on connect, ending in '\n'. */
char *helper_greeting(void);

#endif
