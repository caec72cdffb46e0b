/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * qemu-power-helper: the protocol (docs/power-helper.rst).  One request
 * line in, one reply line out: parsed with QEMU's JSON parser, arguments
 * taken by QAPI's generated visitors, each command checked against what
 * the peer may do before anything else.  No I/O here but the host
 * operations themselves, so that the fuzz target can call it.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-power.h"
#include "qapi/qobject-input-visitor.h"
#include "qapi/qobject-output-visitor.h"
#include "qapi/dealloc-visitor.h"
#include "qapi/visitor.h"
#include "qobject/qbool.h"
#include "qobject/qobject.h"
#include "qobject/qdict.h"
#include "qobject/qjson.h"
#include "qobject/qstring.h"
#include "arbiter.h"
#include "energy.h"
#include "policy.h"

/* QObject has no g_autoptr() */
static void unref_obj(QObject **obj)
{
    qobject_unref(*obj);
}

#define PROTOCOL_VERSION 1

typedef enum ErrClass {
    ERR_GENERIC,
    ERR_NOT_ALLOWED,
    ERR_NOT_AVAILABLE,
    ERR_BAD_REQUEST,
} ErrClass;

static const char *const err_class_names[] = {
    [ERR_GENERIC] = "GenericError",
    [ERR_NOT_ALLOWED] = "NotAllowed",
    [ERR_NOT_AVAILABLE] = "NotAvailable",
    [ERR_BAD_REQUEST] = "BadRequest",
};

/* What a command needs the peer to be allowed. */
typedef enum Need {
    NEED_NOTHING,               /* any peer: it grants nothing */
    NEED_ANY,                   /* energy or policy */
    NEED_ENERGY,
    NEED_POLICY,
} Need;

/*
 * A command: on success sets *@ret; on failure sets @errp and *@cls
 * (ERR_GENERIC unless it says otherwise).
 */
typedef bool CmdFn(Helper *h, Peer *peer, QDict *args, QObject **ret,
                   ErrClass *cls, Error **errp);

char *helper_greeting(void)
{
    return g_strdup_printf("{\"qemu-power-helper\": {\"version\": %d}}\n",
                           PROTOCOL_VERSION);
}

char *peer_describe(const Peer *peer)
{
    return g_strdup_printf("pid %d uid %u name '%s'", (int)peer->pid,
                           (unsigned)peer->uid,
                           peer->name ? peer->name : "");
}

/* Visit @args (may be NULL: none) into @obj with @visit_members. */
static bool take_args(QDict *args, void *obj,
                      bool (*visit_members)(Visitor *, void *, Error **),
                      Error **errp)
{
    g_autoptr(QDict) empty = qdict_new();
    Visitor *v = qobject_input_visitor_new(QOBJECT(args ? args : empty));
    bool ok = visit_start_struct(v, NULL, NULL, 0, errp) &&
              visit_members(v, obj, errp) &&
              visit_check_struct(v, errp);

    visit_end_struct(v, NULL);
    visit_free(v);
    return ok;
}

static void free_args(void *obj,
                      bool (*visit_members)(Visitor *, void *, Error **))
{
    Visitor *v = qapi_dealloc_visitor_new();

    visit_start_struct(v, NULL, NULL, 0, NULL);
    visit_members(v, obj, NULL);
    visit_end_struct(v, NULL);
    visit_free(v);
}

typedef bool (*VisitMembers)(Visitor *, void *, Error **);
typedef bool (*VisitValue)(Visitor *, const char *, void **, Error **);

/* @value in the wire format, consumed. */
static QObject *to_qobject(void *value, VisitValue visit, VisitValue freer)
{
    QObject *obj = NULL;
    Visitor *v = qobject_output_visitor_new(&obj);

    visit(v, "unused", &value, &error_abort);
    visit_complete(v, &obj);
    visit_free(v);
    v = qapi_dealloc_visitor_new();
    freer(v, NULL, &value, NULL);
    visit_free(v);
    return obj;
}

static bool cmd_hello(Helper *h, Peer *peer, QDict *args, QObject **ret,
                      ErrClass *cls, Error **errp)
{
    const QDictEntry *e;
    const char *name = NULL;
    bool keep = false;

    *cls = ERR_BAD_REQUEST;
    for (e = args ? qdict_first(args) : NULL; e; e = qdict_next(args, e)) {
        QObject *v = qdict_entry_value(e);

        if (!strcmp(e->key, "name") && qobject_to(QString, v)) {
            name = qstring_get_str(qobject_to(QString, v));
            if (strlen(name) > HELPER_NAME_MAX) {
                error_setg(errp, "'name' is longer than %d bytes",
                           HELPER_NAME_MAX);
                return false;
            }
        } else if (!strcmp(e->key, "keep") && qobject_to(QBool, v)) {
            keep = qbool_get_bool(qobject_to(QBool, v));
        } else {
            error_setg(errp, "hello takes 'name' (a string) and 'keep' "
                       "(a boolean), not '%s' as given", e->key);
            return false;
        }
    }
    if (name) {
        g_free(peer->name);
        peer->name = g_strescape(name, NULL);
    }
    peer->keep = keep;
    *ret = QOBJECT(qdict_new());
    return true;
}

static bool cmd_query_energy(Helper *h, Peer *peer, QDict *args,
                             QObject **ret, ErrClass *cls, Error **errp)
{
    if (args && qdict_size(args)) {
        *cls = ERR_BAD_REQUEST;
        error_setg(errp, "query-energy takes no arguments");
        return false;
    }
    *ret = to_qobject(helper_energy_snapshot(h->energy),
                      (VisitValue)visit_type_PowerHostEnergy,
                      (VisitValue)visit_type_PowerHostEnergy);
    return true;
}

static bool cmd_query_policy(Helper *h, Peer *peer, QDict *args,
                             QObject **ret, ErrClass *cls, Error **errp)
{
    HostPowerPolicy *p;

    if (args && qdict_size(args)) {
        *cls = ERR_BAD_REQUEST;
        error_setg(errp, "query-host-power-policy takes no arguments");
        return false;
    }
    p = policy_query(h->sysfs_root, peer->may_policy, errp);
    if (!p) {
        return false;
    }
    *ret = to_qobject(p, (VisitValue)visit_type_HostPowerPolicy,
                      (VisitValue)visit_type_HostPowerPolicy);
    return true;
}

typedef void *(*ApplyFn)(const char *root, void *arg, HostSysfsUndo *undo,
                         Error **errp);

/* A set-host-* command: its arguments, the policy call, its reply. */
typedef struct SetCmd {
    size_t arg_size;
    VisitMembers visit_args;
    ApplyFn apply;
    VisitValue visit_reply;
} SetCmd;

/*
 * Take @args as @c's arguments, apply them with every write recorded
 * for the arbiter (also when the call fails half way), and give back
 * what the host applied.
 */
static bool cmd_set(const SetCmd *c, Helper *h, Peer *peer, QDict *args,
                    QObject **ret, ErrClass *cls, Error **errp)
{
    g_autofree void *arg = g_malloc0(c->arg_size);
    g_autoptr(HostSysfsUndo) undo = host_sysfs_undo_new();
    void *r;

    if (!take_args(args, arg, c->visit_args, errp)) {
        *cls = ERR_BAD_REQUEST;
        free_args(arg, c->visit_args);
        return false;
    }
    r = c->apply(h->sysfs_root, arg, undo, errp);
    arbiter_record(h->arbiter, peer, undo);
    free_args(arg, c->visit_args);
    if (!r) {
        return false;
    }
    *ret = to_qobject(r, c->visit_reply, c->visit_reply);
    return true;
}

static const SetCmd set_cpufreq = {
    sizeof(q_obj_set_host_cpufreq_arg),
    (VisitMembers)visit_type_q_obj_set_host_cpufreq_arg_members,
    (ApplyFn)policy_set_cpufreq,
    (VisitValue)visit_type_HostCpufreqInfoList,
};
static const SetCmd set_pstate = {
    sizeof(q_obj_set_host_pstate_arg),
    (VisitMembers)visit_type_q_obj_set_host_pstate_arg_members,
    (ApplyFn)policy_set_pstate,
    (VisitValue)visit_type_HostPstateInfo,
};
static const SetCmd set_power_limit = {
    sizeof(q_obj_set_host_power_limit_arg),
    (VisitMembers)visit_type_q_obj_set_host_power_limit_arg_members,
    (ApplyFn)policy_set_power_limit,
    (VisitValue)visit_type_HostPowerZonePolicy,
};

static const struct {
    const char *name;
    Need need;
    CmdFn *fn;                  /* or, for a set-host-* command: */
    const SetCmd *set;
} commands[] = {
    /*
     * hello only names the client, so a peer allowed nothing is told so
     * by the command it then asks for, not by its greeting
     */
    { "hello", NEED_NOTHING, cmd_hello },
    { "query-energy", NEED_ENERGY, cmd_query_energy },
    { "query-host-power-policy", NEED_ANY, cmd_query_policy },
    { "set-host-cpufreq", NEED_POLICY, NULL, &set_cpufreq },
    { "set-host-pstate", NEED_POLICY, NULL, &set_pstate },
    { "set-host-power-limit", NEED_POLICY, NULL, &set_power_limit },
};

static bool allowed(const Peer *peer, Need need)
{
    switch (need) {
    case NEED_NOTHING:
        return true;
    case NEED_ANY:
        return peer->may_energy || peer->may_policy;
    case NEED_ENERGY:
        return peer->may_energy;
    case NEED_POLICY:
        return peer->may_policy;
    default:
        g_assert_not_reached();
    }
}

/* The reply, with @id (may be NULL) echoed, as a line. */
static char *reply(QObject *ret, ErrClass cls, Error *err, QObject *id)
{
    g_autoptr(QDict) r = qdict_new();
    GString *json;

    if (err) {
        QDict *e = qdict_new();

        qdict_put_str(e, "class", err_class_names[cls]);
        qdict_put_str(e, "desc", error_get_pretty(err));
        qdict_put(r, "error", e);
        error_free(err);
    } else {
        qdict_put_obj(r, "return", ret);
    }
    if (id) {
        qdict_put_obj(r, "id", qobject_ref(id));
    }
    json = qobject_to_json(QOBJECT(r));
    g_string_append_c(json, '\n');
    return g_string_free(json, false);
}

char *helper_handle_line(Helper *h, Peer *peer, const char *line,
                         size_t len)
{
    g_autofree char *text = NULL;
    QObject *obj __attribute__((cleanup(unref_obj))) = NULL;
    QObject *id = NULL, *ret = NULL;
    const QDictEntry *e;
    const char *cmd = NULL;
    QDict *req, *args = NULL;
    Error *err = NULL;
    ErrClass cls = ERR_BAD_REQUEST;

    if (len > HELPER_LINE_MAX || memchr(line, '\0', len)) {
        error_setg(&err, "A request is one JSON object on one line of at "
                   "most %d bytes, without NUL", HELPER_LINE_MAX);
        return reply(NULL, cls, err, NULL);
    }
    text = g_strndup(line, len);
    obj = qobject_from_json(text, &err);
    req = qobject_to(QDict, obj);
    if (!req) {
        error_free(err);
        err = NULL;
        error_setg(&err, "A request must be a JSON object");
        return reply(NULL, cls, err, NULL);
    }
    id = qdict_get(req, "id");
    for (e = qdict_first(req); e; e = qdict_next(req, e)) {
        QObject *v = qdict_entry_value(e);

        if (!strcmp(e->key, "execute") && qobject_to(QString, v)) {
            cmd = qstring_get_str(qobject_to(QString, v));
        } else if (!strcmp(e->key, "arguments") && qobject_to(QDict, v)) {
            args = qobject_to(QDict, v);
        } else if (strcmp(e->key, "id")) {
            error_setg(&err, "A request has 'execute' (a string), "
                       "'arguments' (an object) and 'id'; '%s' is wrong",
                       e->key);
            return reply(NULL, cls, err, id);
        }
    }
    if (!cmd) {
        error_setg(&err, "A request needs 'execute'");
        return reply(NULL, cls, err, id);
    }
    for (int i = 0; i < ARRAY_SIZE(commands); i++) {
        if (strcmp(commands[i].name, cmd)) {
            continue;
        }
        if (!allowed(peer, commands[i].need)) {
            g_autofree char *who = peer_describe(peer);

            helper_log("%s: %s refused", who, cmd);
            error_setg(&err, "This peer (uid %u) may not use '%s'",
                       (unsigned)peer->uid, cmd);
            return reply(NULL, ERR_NOT_ALLOWED, err, id);
        }
        cls = ERR_GENERIC;
        if (commands[i].set ?
            !cmd_set(commands[i].set, h, peer, args, &ret, &cls, &err) :
            !commands[i].fn(h, peer, args, &ret, &cls, &err)) {
            return reply(NULL, cls, err, id);
        }
        return reply(ret, cls, NULL, id);
    }
    error_setg(&err, "Unknown command '%.64s'", cmd);
    return reply(NULL, cls, err, id);
}
