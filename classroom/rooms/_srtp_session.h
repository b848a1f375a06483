/* What the two C extensions (_fanout: the send fan-out, _receive: the receive path) do
 * alike with libsrtp: start it, and make one session from a DTLS-SRTP profile and the
 * master key + salt exported from the handshake. Included by both; each gets its own copy
 * of these static functions, and both share the process's one libsrtp. */
#ifndef CLASSROOM_SRTP_SESSION_H
#define CLASSROOM_SRTP_SESSION_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <string.h>
#include <srtp2/srtp.h>

/* The libsrtp functions the extensions call, through a table: the one they are linked
 * against (Debian's libsrtp2, whose crypto is NSS), or another copy of libsrtp in the
 * process whose functions Python hands over (`use_libsrtp`: pylibsrtp's, built with
 * OpenSSL, unprotects a video packet in less than half the time). A session keeps the
 * table it was made with, so switching never mixes two copies' sessions and functions. */
typedef struct {
    const char *name;
    __typeof__(&srtp_init) init;
    __typeof__(&srtp_create) create;
    __typeof__(&srtp_dealloc) dealloc;
    __typeof__(&srtp_protect) protect;
    __typeof__(&srtp_unprotect) unprotect;
    __typeof__(&srtp_unprotect_rtcp) unprotect_rtcp;
    __typeof__(&srtp_crypto_policy_set_from_profile_for_rtp) policy_for_rtp;
    __typeof__(&srtp_crypto_policy_set_from_profile_for_rtcp) policy_for_rtcp;
} srtp_api_t;

#define SRTP_API_FUNCTIONS 7 /* create .. policy_for_rtcp, after init */

static srtp_api_t srtp_linked = {
    "linked", srtp_init, srtp_create, srtp_dealloc, srtp_protect, srtp_unprotect,
    srtp_unprotect_rtcp, srtp_crypto_policy_set_from_profile_for_rtp,
    srtp_crypto_policy_set_from_profile_for_rtcp,
};
static srtp_api_t srtp_handed;
static const srtp_api_t *srtp_api = &srtp_linked;

/* `api`'s srtp_init(). Whoever comes second (the other extension, or pylibsrtp for its own
 * copy) finds libsrtp initialised, and srtp_init() says so as bad_param (its debug module
 * is registered already): that is not an error. 0, or -1 with `exc` set. */
static int srtp_started(const srtp_api_t *api, PyObject *exc) {
    srtp_err_status_t init = api->init();
    if (init != srtp_err_status_ok && init != srtp_err_status_bad_param) {
        PyErr_Format(exc, "srtp_init of the %s libsrtp failed (%d)", api->name, (int)init);
        return -1;
    }
    return 0;
}

/* use_libsrtp(addresses | None): the sessions made from now on use the libsrtp whose
 * functions are at these addresses (init, create, dealloc, protect, unprotect,
 * unprotect_rtcp, the two policy setters), initialised already; None: the linked one. */
static PyObject *srtp_use_libsrtp(PyObject *module, PyObject *arg) {
    (void)module;
    if (arg == Py_None) {
        srtp_api = &srtp_linked;
        Py_RETURN_NONE;
    }
    if (!PyTuple_Check(arg) || PyTuple_GET_SIZE(arg) != SRTP_API_FUNCTIONS + 1) {
        PyErr_Format(PyExc_TypeError, "use_libsrtp takes None or a tuple of %d addresses",
                     SRTP_API_FUNCTIONS + 1);
        return NULL;
    }
    void *f[SRTP_API_FUNCTIONS + 1];
    for (Py_ssize_t i = 0; i <= SRTP_API_FUNCTIONS; i++) {
        f[i] = PyLong_AsVoidPtr(PyTuple_GET_ITEM(arg, i));
        if (f[i] == NULL) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "a NULL function");
            return NULL;
        }
    }
    srtp_api_t api = {"handed", f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
    if (srtp_started(&api, PyExc_RuntimeError) < 0) return NULL;
    srtp_handed = api;
    srtp_api = &srtp_handed;
    Py_RETURN_NONE;
}

/* libsrtp() -> "linked" or "handed": which the next session uses. */
static PyObject *srtp_which(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return PyUnicode_FromString(srtp_api->name);
}

/* policy_layout() -> the sizes and offsets a libsrtp handed over must share with the
 * headers these extensions were built with: sizeof(srtp_policy_t), the offsets of ssrc,
 * rtp, rtcp, key, window_size, allow_repeat_tx, sizeof(srtp_crypto_policy_t). */
static PyObject *srtp_policy_layout(PyObject *module, PyObject *unused) {
    (void)module;
    (void)unused;
    return Py_BuildValue("(nnnnnnnn)", (Py_ssize_t)sizeof(srtp_policy_t),
                         (Py_ssize_t)offsetof(srtp_policy_t, ssrc),
                         (Py_ssize_t)offsetof(srtp_policy_t, rtp),
                         (Py_ssize_t)offsetof(srtp_policy_t, rtcp),
                         (Py_ssize_t)offsetof(srtp_policy_t, key),
                         (Py_ssize_t)offsetof(srtp_policy_t, window_size),
                         (Py_ssize_t)offsetof(srtp_policy_t, allow_repeat_tx),
                         (Py_ssize_t)sizeof(srtp_crypto_policy_t));
}

#define SRTP_LIBRARY_METHODS                                                                \
    {"use_libsrtp", srtp_use_libsrtp, METH_O,                                              \
     "use_libsrtp(addresses | None): the libsrtp the sessions made from now on use"},      \
        {"libsrtp", srtp_which, METH_NOARGS, "libsrtp() -> 'linked' or 'handed'"},          \
        {"policy_layout", srtp_policy_layout, METH_NOARGS,                                  \
         "policy_layout() -> the srtp_policy_t layout these extensions were built with"}

/* srtp_start() for a module's init: the linked libsrtp's srtp_init(). */
static int srtp_start(void) { return srtp_started(&srtp_linked, PyExc_ImportError); }

/* Replace `*session` (made with `*made_by`) by a new one for `profile` keyed with `key`
 * (master key + salt):
 * inbound (any SSRC we receive) or outbound (any SSRC we send, resends allowed, as a NACK
 * answer sends a packet again). 0, or -1 with ValueError (profile, key length) or
 * RuntimeError set and `*session` NULL; `*made_by` is the table the session was made with. */
static int srtp_session_make(const srtp_api_t **made_by, srtp_t *session, int profile,
                             const Py_buffer *key, int inbound) {
    const srtp_api_t *api = srtp_api;
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    if (api->policy_for_rtp(&policy.rtp, (srtp_profile_t)profile) ||
        api->policy_for_rtcp(&policy.rtcp, (srtp_profile_t)profile)) {
        PyErr_Format(PyExc_ValueError, "unsupported SRTP profile %d", profile);
        return -1;
    }
    int needed = policy.rtp.cipher_key_len;
    unsigned char keybuf[64];
    if (key->len != needed || needed > (int)sizeof(keybuf)) {
        PyErr_Format(PyExc_ValueError, "SRTP key+salt must be %d bytes", needed);
        return -1;
    }
    memcpy(keybuf, key->buf, (size_t)key->len);
    policy.ssrc.type = inbound ? ssrc_any_inbound : ssrc_any_outbound;
    policy.key = keybuf;
    policy.window_size = 1024;
    policy.allow_repeat_tx = !inbound;
    if (*session != NULL) {
        (*made_by)->dealloc(*session);
        *session = NULL;
    }
    srtp_err_status_t err = api->create(session, &policy);
    memset(keybuf, 0, sizeof(keybuf));
    if (err) {
        *session = NULL;
        PyErr_Format(PyExc_RuntimeError, "srtp_create failed (%d)", (int)err);
        return -1;
    }
    *made_by = api;
    return 0;
}

#endif
