/* What the two C extensions (_fanout: the send fan-out, _receive: the receive path) do
 * alike with libsrtp: start it, and make one session from a DTLS-SRTP profile and the
 * master key + salt exported from the handshake. Included by both; each gets its own copy
 * of these static functions, and both share the process's one libsrtp. */
#ifndef CLASSROOM_SRTP_SESSION_H
#define CLASSROOM_SRTP_SESSION_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <srtp2/srtp.h>

/* srtp_init() for a module's init. Whichever extension loads second finds libsrtp
 * initialised, and srtp_init() says so as bad_param (its debug module is registered
 * already): that is not an error. 0, or -1 with ImportError set. */
static int srtp_start(void) {
    srtp_err_status_t init = srtp_init();
    if (init != srtp_err_status_ok && init != srtp_err_status_bad_param) {
        PyErr_Format(PyExc_ImportError, "srtp_init failed (%d)", (int)init);
        return -1;
    }
    return 0;
}

/* Replace `*session` by a new one for `profile` keyed with `key` (master key + salt):
 * inbound (any SSRC we receive) or outbound (any SSRC we send, resends allowed, as a NACK
 * answer sends a packet again). 0, or -1 with ValueError (profile, key length) or
 * RuntimeError set and `*session` NULL. */
static int srtp_session_make(srtp_t *session, int profile, const Py_buffer *key, int inbound) {
    srtp_policy_t policy;
    memset(&policy, 0, sizeof(policy));
    if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, (srtp_profile_t)profile) ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, (srtp_profile_t)profile)) {
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
        srtp_dealloc(*session);
        *session = NULL;
    }
    srtp_err_status_t err = srtp_create(session, &policy);
    memset(keybuf, 0, sizeof(keybuf));
    if (err) {
        *session = NULL;
        PyErr_Format(PyExc_RuntimeError, "srtp_create failed (%d)", (int)err);
        return -1;
    }
    return 0;
}

#endif
