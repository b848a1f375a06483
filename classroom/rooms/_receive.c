/* The receive path's per-packet work in C: SRTP unprotect and the parse of one RTP packet.
 *
 * Every inbound packet of a publisher (and, on a subscriber's transport, every RTCP packet)
 * is unprotected and, for RTP, parsed before anything else looks at it. In Python that is
 * pylibsrtp's cffi call and aiortc's `RtpPacket.parse` (its header extensions are parsed in
 * a loop of slices and `struct` calls): the two largest costs of a packet that is then
 * forwarded by the C fan-out. `Inbound` is one transport's inbound SRTP context (keyed from
 * its DTLS handshake, like `_fanout.Transport` for the other direction); `Inbound.rtp()`
 * unprotects and parses in one call and builds aiortc's own `RtpPacket` (its class and its
 * `HeaderExtensions` are handed over by `configure()`, from rooms/aiortc_hooks.py, which
 * also checks their attributes), so everything downstream sees what aiortc would have
 * made. The per-SSRC receive bookkeeping (`Statistics`, `Nacks`) is in _receive_stats.h.
 * `parse()` is the parse alone; the tests compare it with aiortc's on every shape
 * of packet, and the pure-Python path (pylibsrtp and `RtpPacket.parse`) stays the fallback.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>
#include <srtp2/srtp.h>

#include "_srtp_session.h"

#define MAX_DATAGRAM 2048

static PyObject *packet_class;     /* aiortc.rtp.RtpPacket */
static PyObject *extensions_class; /* aiortc.rtp.HeaderExtensions */
static PyObject *Error;            /* not authentic (SRTP authentication or replay) */

/* Interned attribute names. */
static PyObject *s_version, *s_marker, *s_payload_type, *s_sequence_number, *s_timestamp,
    *s_ssrc, *s_csrc, *s_extensions, *s_payload, *s_padding_size;
static PyObject *s_abs_send_time, *s_audio_level, *s_mid, *s_repaired_rtp_stream_id,
    *s_rtp_stream_id, *s_transmission_offset, *s_transport_sequence_number;

#include "_receive_stats.h"

/* The extension ids a transport negotiated, in the order aiortc tests them. */
enum { X_MID, X_RRID, X_RID, X_ABS, X_TOFFSET, X_LEVEL, X_TSN, X_COUNT };

static PyObject **id_names[X_COUNT] = {
    &s_mid, &s_repaired_rtp_stream_id, &s_rtp_stream_id, &s_abs_send_time,
    &s_transmission_offset, &s_audio_level, &s_transport_sequence_number,
};

/* -1: not negotiated. */
static int read_ids(PyObject *ids, int out[X_COUNT]) {
    for (int i = 0; i < X_COUNT; i++) {
        PyObject *v = PyObject_GetAttr(ids, *id_names[i]);
        if (v == NULL) return -1;
        out[i] = -1;
        if (v != Py_None) {
            long id = PyLong_AsLong(v);
            if (id == -1 && PyErr_Occurred()) {
                Py_DECREF(v);
                return -1;
            }
            out[i] = (int)id;
        }
        Py_DECREF(v);
    }
    return 0;
}

static int set(PyObject *dict, PyObject *name, PyObject *value) {
    if (value == NULL) return -1;
    int r = PyDict_SetItem(dict, name, value);
    Py_DECREF(value);
    return r;
}

static PyObject *empty_args;

/* A new instance of `cls` as `object.__new__` makes it, without calling its __init__, and
 * its __dict__ in `*dict` (a new reference). */
static PyObject *blank(PyObject *cls, PyObject **dict) {
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *obj = type->tp_new(type, empty_args, NULL);
    if (obj == NULL) return NULL;
    *dict = PyObject_GenericGetDict(obj, NULL);
    if (*dict == NULL) {
        Py_DECREF(obj);
        return NULL;
    }
    return obj;
}

static PyObject *parse_error(const char *what) {
    PyErr_SetString(PyExc_ValueError, what);
    return NULL;
}

/* One extension element into the HeaderExtensions' dict, as aiortc's
 * HeaderExtensionsMap.get does (the first matching id of its if/elif chain). */
static int extension(PyObject *dict, const int ids[X_COUNT], int x_id, const uint8_t *v, int n) {
    int which = -1;
    for (int i = 0; i < X_COUNT; i++) {
        if (ids[i] == x_id) {
            which = i;
            break;
        }
    }
    switch (which) {
        case X_MID:
            return set(dict, s_mid, PyUnicode_DecodeUTF8((const char *)v, n, NULL));
        case X_RRID:
            return set(dict, s_repaired_rtp_stream_id,
                       PyUnicode_DecodeASCII((const char *)v, n, NULL));
        case X_RID:
            return set(dict, s_rtp_stream_id, PyUnicode_DecodeASCII((const char *)v, n, NULL));
        case X_ABS:
            if (n != 3) break;
            return set(dict, s_abs_send_time,
                       PyLong_FromUnsignedLong(((unsigned long)v[0] << 16) | (v[1] << 8) | v[2]));
        case X_TOFFSET: {
            if (n != 3) break;
            int32_t raw = (int32_t)(((uint32_t)v[0] << 24) | ((uint32_t)v[1] << 16) |
                                    ((uint32_t)v[2] << 8));
            return set(dict, s_transmission_offset, PyLong_FromLong(raw >> 8));
        }
        case X_LEVEL:
            if (n != 1) break;
            return set(dict, s_audio_level,
                       Py_BuildValue("(Oi)", (v[0] & 0x80) ? Py_True : Py_False, v[0] & 0x7F));
        case X_TSN:
            if (n != 2) break;
            return set(dict, s_transport_sequence_number,
                       PyLong_FromLong((v[0] << 8) | v[1]));
        default:
            return 0;
    }
    PyErr_SetString(PyExc_ValueError, "RTP header extension has the wrong length");
    return -1;
}

static int extensions(PyObject *dict, const int ids[X_COUNT], int profile, const uint8_t *v,
                      int len) {
    int pos = 0;
    if (profile == 0xBEDE) {
        while (pos < len) {
            if (v[pos] == 0) {
                pos++;
                continue;
            }
            int x_id = v[pos] >> 4, x_len = (v[pos] & 0x0F) + 1;
            pos++;
            if (len < pos + x_len) {
                PyErr_SetString(PyExc_ValueError, "RTP one-byte header extension value is truncated");
                return -1;
            }
            if (extension(dict, ids, x_id, v + pos, x_len) < 0) return -1;
            pos += x_len;
        }
    } else if (profile == 0x1000) {
        while (pos < len) {
            if (v[pos] == 0) {
                pos++;
                continue;
            }
            if (len < pos + 2) {
                PyErr_SetString(PyExc_ValueError, "RTP two-byte header extension is truncated");
                return -1;
            }
            int x_id = v[pos], x_len = v[pos + 1];
            pos += 2;
            if (len < pos + x_len) {
                PyErr_SetString(PyExc_ValueError, "RTP two-byte header extension value is truncated");
                return -1;
            }
            if (extension(dict, ids, x_id, v + pos, x_len) < 0) return -1;
            pos += x_len;
        }
    }
    return 0;
}

/* aiortc's RtpPacket.parse, same checks and messages, same attributes. */
static PyObject *parse_packet(const uint8_t *d, Py_ssize_t len, PyObject *ids_obj) {
    if (packet_class == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "_receive.configure() was not called");
        return NULL;
    }
    if (len < 12) return parse_error("RTP packet length is less than 12 bytes");
    int version = d[0] >> 6, padding = (d[0] >> 5) & 1, has_ext = (d[0] >> 4) & 1;
    int cc = d[0] & 0x0F;
    if (version != 2) return parse_error("RTP packet has invalid version");
    if (len < 12 + 4 * cc) return parse_error("RTP packet has truncated CSRC");
    Py_ssize_t pos = 12 + 4 * cc;
    int profile = 0;
    const uint8_t *ext_value = NULL;
    int ext_len = 0;
    if (has_ext) {
        if (len < pos + 4) return parse_error("RTP packet has truncated extension profile / length");
        profile = (d[pos] << 8) | d[pos + 1];
        ext_len = 4 * ((d[pos + 2] << 8) | d[pos + 3]);
        pos += 4;
        if (len < pos + ext_len) return parse_error("RTP packet has truncated extension value");
        ext_value = d + pos;
        pos += ext_len;
    }
    Py_ssize_t end = len;
    int padding_len = 0;
    if (padding) {
        padding_len = d[len - 1];
        if (!padding_len || padding_len > len - pos)
            return parse_error("RTP packet padding length is invalid");
        end = len - padding_len;
    }

    PyObject *ext_dict = NULL, *dict = NULL, *packet = NULL;
    PyObject *ext = blank(extensions_class, &ext_dict);
    if (ext == NULL) return NULL;
    if (set(ext_dict, s_abs_send_time, Py_NewRef(Py_None)) < 0 ||
        set(ext_dict, s_audio_level, Py_NewRef(Py_None)) < 0 ||
        set(ext_dict, s_mid, Py_NewRef(Py_None)) < 0 ||
        set(ext_dict, s_repaired_rtp_stream_id, Py_NewRef(Py_None)) < 0 ||
        set(ext_dict, s_rtp_stream_id, Py_NewRef(Py_None)) < 0 ||
        set(ext_dict, s_transmission_offset, Py_NewRef(Py_None)) < 0 ||
        set(ext_dict, s_transport_sequence_number, Py_NewRef(Py_None)) < 0)
        goto fail_ext;
    if (ext_len > 0 && (profile == 0xBEDE || profile == 0x1000)) {
        int ids[X_COUNT];
        if (read_ids(ids_obj, ids) < 0 || extensions(ext_dict, ids, profile, ext_value, ext_len) < 0)
            goto fail_ext;
    }
    packet = blank(packet_class, &dict);
    if (packet == NULL) goto fail_ext;
    PyObject *csrc = PyList_New(cc);
    if (csrc == NULL) goto fail_packet;
    for (int i = 0; i < cc; i++) {
        const uint8_t *c = d + 12 + 4 * i;
        PyObject *value = PyLong_FromUnsignedLong(((unsigned long)c[0] << 24) | (c[1] << 16) |
                                                  (c[2] << 8) | c[3]);
        if (value == NULL) {
            Py_DECREF(csrc);
            goto fail_packet;
        }
        PyList_SET_ITEM(csrc, i, value);
    }
    if (set(dict, s_version, PyLong_FromLong(2)) < 0 ||
        set(dict, s_marker, PyLong_FromLong(d[1] >> 7)) < 0 ||
        set(dict, s_payload_type, PyLong_FromLong(d[1] & 0x7F)) < 0 ||
        set(dict, s_sequence_number, PyLong_FromLong((d[2] << 8) | d[3])) < 0 ||
        set(dict, s_timestamp,
            PyLong_FromUnsignedLong(((unsigned long)d[4] << 24) | (d[5] << 16) | (d[6] << 8) | d[7])) < 0 ||
        set(dict, s_ssrc,
            PyLong_FromUnsignedLong(((unsigned long)d[8] << 24) | (d[9] << 16) | (d[10] << 8) | d[11])) < 0 ||
        set(dict, s_csrc, csrc) < 0 ||
        set(dict, s_extensions, Py_NewRef(ext)) < 0 ||
        set(dict, s_payload, PyBytes_FromStringAndSize((const char *)d + pos, end - pos)) < 0 ||
        set(dict, s_padding_size, PyLong_FromLong(padding_len)) < 0)
        goto fail_packet;
    Py_DECREF(dict);
    Py_DECREF(ext_dict);
    Py_DECREF(ext);
    return packet;
fail_packet:
    Py_DECREF(dict);
    Py_DECREF(packet);
fail_ext:
    Py_DECREF(ext_dict);
    Py_DECREF(ext);
    return NULL;
}

/* --- Inbound -------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    srtp_t session;
    const srtp_api_t *api; /* the libsrtp `session` was made with */
    unsigned long long packets, rtcp_packets, rejected;
} Inbound;

static int Inbound_init(Inbound *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"profile", "key", NULL};
    int profile;
    Py_buffer key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*", kw, &profile, &key)) return -1;
    int made = srtp_session_make(&self->api, &self->session, profile, &key, 1);
    PyBuffer_Release(&key);
    return made;
}

static void Inbound_dealloc(Inbound *self) {
    if (self->session != NULL) self->api->dealloc(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Unprotect `data` into `buf`; its plain length, or -1 with Error set. */
static int unprotect(Inbound *self, Py_buffer *data, uint8_t *buf, int rtcp) {
    if (self->session == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Inbound is not keyed");
        return -1;
    }
    if (data->len > MAX_DATAGRAM) {
        self->rejected++;
        PyErr_SetString(Error, "packet is too long");
        return -1;
    }
    memcpy(buf, data->buf, (size_t)data->len);
    int len = (int)data->len;
    srtp_err_status_t err = rtcp ? self->api->unprotect_rtcp(self->session, buf, &len)
                                 : self->api->unprotect(self->session, buf, &len);
    if (err != srtp_err_status_ok) {
        self->rejected++;
        PyErr_Format(Error, "srtp_unprotect%s failed (%d)", rtcp ? "_rtcp" : "", (int)err);
        return -1;
    }
    return len;
}

static PyObject *Inbound_rtp(Inbound *self, PyObject *args) {
    Py_buffer data;
    PyObject *ids;
    if (!PyArg_ParseTuple(args, "y*O", &data, &ids)) return NULL;
    uint8_t buf[MAX_DATAGRAM];
    int len = unprotect(self, &data, buf, 0);
    PyBuffer_Release(&data);
    if (len < 0) return NULL;
    self->packets++;
    return parse_packet(buf, len, ids);
}

static PyObject *plain(Inbound *self, PyObject *args, int rtcp) {
    Py_buffer data;
    if (!PyArg_ParseTuple(args, "y*", &data)) return NULL;
    uint8_t buf[MAX_DATAGRAM];
    int len = unprotect(self, &data, buf, rtcp);
    PyBuffer_Release(&data);
    if (len < 0) return NULL;
    if (rtcp)
        self->rtcp_packets++;
    else
        self->packets++;
    return PyBytes_FromStringAndSize((const char *)buf, len);
}

static PyObject *Inbound_unprotect(Inbound *self, PyObject *args) { return plain(self, args, 0); }

static PyObject *Inbound_rtcp(Inbound *self, PyObject *args) { return plain(self, args, 1); }

static PyObject *Inbound_get_counter(Inbound *self, void *which) {
    switch ((intptr_t)which) {
        case 0: return PyLong_FromUnsignedLongLong(self->packets);
        case 1: return PyLong_FromUnsignedLongLong(self->rtcp_packets);
        default: return PyLong_FromUnsignedLongLong(self->rejected);
    }
}

static PyGetSetDef Inbound_getset[] = {
    {"packets", (getter)Inbound_get_counter, NULL, "SRTP packets unprotected", (void *)0},
    {"rtcp_packets", (getter)Inbound_get_counter, NULL, "SRTCP packets unprotected", (void *)1},
    {"rejected", (getter)Inbound_get_counter, NULL, "packets that did not unprotect", (void *)2},
    {NULL},
};

static PyMethodDef Inbound_methods[] = {
    {"rtp", (PyCFunction)Inbound_rtp, METH_VARARGS,
     "rtp(data, ids) -> RtpPacket: unprotect and parse (Error: not authentic; ValueError: "
     "does not parse); `ids` is the transport's HeaderExtensions of negotiated ids"},
    {"unprotect", (PyCFunction)Inbound_unprotect, METH_VARARGS,
     "unprotect(data) -> bytes: unprotect SRTP (Error: not authentic)"},
    {"rtcp", (PyCFunction)Inbound_rtcp, METH_VARARGS,
     "rtcp(data) -> bytes: unprotect SRTCP (Error: not authentic)"},
    {NULL},
};

static PyTypeObject InboundType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "classroom.rooms._receive.Inbound",
    .tp_basicsize = sizeof(Inbound),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Inbound(profile, key): one transport's inbound SRTP context",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Inbound_init,
    .tp_dealloc = (destructor)Inbound_dealloc,
    .tp_methods = Inbound_methods,
    .tp_getset = Inbound_getset,
};

/* --- Lane ------------------------------------------------------------------------------ */

/* One transport's SRTP datagrams from the socket to the receiver's handler, in one C call:
 * `ReceiveFastPath.take` + `_coroutine` + `_run` for an RTP packet once the fast path owns
 * the transport's SRTP with a native session (everything else, and any packet while a
 * handler waits, goes to the Python `take`, whose rules stay the reference). Installed as
 * the hooked sockets' `datagram_received` (with the socket's own as the first argument,
 * for what neither path takes). */

static PyObject *s_backlog, *s_state, *s_rx_bytes, *s_rx_packets, *s_ssrc_table,
    *s_payload_type_table, *s_route_rtp, *s_handle_rtp_packet;

typedef struct {
    PyObject_HEAD
    Inbound *inbound;
    PyObject *fast;      /* the ReceiveFastPath */
    PyObject *take;      /* fast.take: the Python path */
    PyObject *waited;    /* fast.handler_waited(coro, yielded) */
    PyObject *failed;    /* fast.handler_failed(exc) */
    PyObject *dtls;      /* the RTCDtlsTransport */
    PyObject *connected; /* DtlsState.CONNECTED */
    PyObject *router;    /* its RtpRouter */
    PyObject *ids;       /* its negotiated extension ids (HeaderExtensions, updated in place) */
    double ntp_offset;   /* seconds from the NTP epoch to the Unix epoch */
    unsigned long long packets, dropped;
} Lane;

static int Lane_init(Lane *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"inbound", "fast", "take", "waited", "failed", "dtls", "connected",
                         "router", "ids", "ntp_offset", NULL};
    PyObject *inbound, *fast, *take, *waited, *failed, *dtls, *connected, *router, *ids;
    double ntp_offset;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOOOOOOOd", kw, &InboundType, &inbound,
                                     &fast, &take, &waited, &failed, &dtls, &connected, &router,
                                     &ids, &ntp_offset))
        return -1;
    Py_XSETREF(self->inbound, (Inbound *)Py_NewRef(inbound));
    Py_XSETREF(self->fast, Py_NewRef(fast));
    Py_XSETREF(self->take, Py_NewRef(take));
    Py_XSETREF(self->waited, Py_NewRef(waited));
    Py_XSETREF(self->failed, Py_NewRef(failed));
    Py_XSETREF(self->dtls, Py_NewRef(dtls));
    Py_XSETREF(self->connected, Py_NewRef(connected));
    Py_XSETREF(self->router, Py_NewRef(router));
    Py_XSETREF(self->ids, Py_NewRef(ids));
    self->ntp_offset = ntp_offset;
    return 0;
}

static int Lane_traverse(Lane *self, visitproc visit, void *arg) {
    Py_VISIT(self->inbound);
    Py_VISIT(self->fast);
    Py_VISIT(self->take);
    Py_VISIT(self->waited);
    Py_VISIT(self->failed);
    Py_VISIT(self->dtls);
    Py_VISIT(self->connected);
    Py_VISIT(self->router);
    Py_VISIT(self->ids);
    return 0;
}

static int Lane_clear(Lane *self) {
    Py_CLEAR(self->inbound);
    Py_CLEAR(self->fast);
    Py_CLEAR(self->take);
    Py_CLEAR(self->waited);
    Py_CLEAR(self->failed);
    Py_CLEAR(self->dtls);
    Py_CLEAR(self->connected);
    Py_CLEAR(self->router);
    Py_CLEAR(self->ids);
    return 0;
}

static void Lane_dealloc(Lane *self) {
    PyObject_GC_UnTrack(self);
    Lane_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* obj.name += by, for aiortc's private counters (ints in the instance's dict). */
static int add_to(PyObject *obj, PyObject *name, long by) {
    PyObject *v = PyObject_GetAttr(obj, name);
    if (v == NULL) return -1;
    PyObject *step = PyLong_FromLong(by);
    PyObject *sum = step != NULL ? PyNumber_Add(v, step) : NULL;
    Py_DECREF(v);
    Py_XDECREF(step);
    if (sum == NULL) return -1;
    int r = PyObject_SetAttr(obj, name, sum);
    Py_DECREF(sum);
    return r;
}

/* The receiver aiortc's router would route to when its tables already know the SSRC and
 * the payload type (new reference, or None: ask the router itself). */
static PyObject *known_receiver(PyObject *router, uint32_t ssrc, int pt) {
    PyObject *ssrcs = PyObject_GetAttr(router, s_ssrc_table);
    if (ssrcs == NULL) return NULL;
    PyObject *key = PyLong_FromUnsignedLong(ssrc);
    PyObject *receiver = key != NULL && PyDict_Check(ssrcs) ? PyDict_GetItemWithError(ssrcs, key)
                                                            : NULL;
    Py_XDECREF(key);
    Py_XINCREF(receiver);
    Py_DECREF(ssrcs);
    if (receiver == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *pts = PyObject_GetAttr(router, s_payload_type_table);
    PyObject *pt_key = PyLong_FromLong(pt);
    PyObject *receivers = pts != NULL && pt_key != NULL && PyDict_Check(pts)
                              ? PyDict_GetItemWithError(pts, pt_key)
                              : NULL;
    int known = receivers != NULL && PyAnySet_Check(receivers) ? PySet_Contains(receivers, receiver)
                                                               : 0;
    Py_XDECREF(pts);
    Py_XDECREF(pt_key);
    if (known < 0 || PyErr_Occurred()) {
        Py_DECREF(receiver);
        return NULL;
    }
    if (known) return receiver;
    Py_DECREF(receiver);
    Py_RETURN_NONE;
}

/* The packet's handlers, run as `ReceiveFastPath._run` runs them (0, or -1 with an error
 * that is not an Exception: passed on, as from the Python path). */
static int run_handler(Lane *self, PyObject *receiver, PyObject *packet) {
    PyObject *handle = PyObject_GetAttr(receiver, s_handle_rtp_packet);
    if (handle == NULL) goto failed;
    PyObject *arrival =
        PyLong_FromLongLong((long long)((wall_clock() + self->ntp_offset) * 1000));
    PyObject *coro = arrival != NULL ? PyObject_CallFunctionObjArgs(handle, packet, arrival, NULL)
                                     : NULL;
    Py_DECREF(handle);
    Py_XDECREF(arrival);
    if (coro == NULL) goto failed;
    PyObject *yielded = NULL;
    PySendResult sent = PyIter_Send(coro, Py_None, &yielded);
    if (sent == PYGEN_RETURN) {
        Py_DECREF(coro);
        Py_XDECREF(yielded);
        return 0;
    }
    if (sent == PYGEN_NEXT) {
        /* it waits: the fast path finishes it in a task, and takes what comes meanwhile */
        PyObject *r = PyObject_CallFunctionObjArgs(self->waited, coro, yielded, NULL);
        Py_DECREF(coro);
        Py_DECREF(yielded);
        if (r == NULL) return -1;
        Py_DECREF(r);
        return 0;
    }
    Py_DECREF(coro);
failed:
    if (!PyErr_ExceptionMatches(PyExc_Exception)) return -1;
    {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyErr_NormalizeException(&type, &value, &tb);
        if (tb != NULL) PyException_SetTraceback(value, tb);
        PyObject *r = PyObject_CallOneArg(self->failed, value != NULL ? value : Py_None);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        if (r == NULL) return -1;
        Py_DECREF(r);
    }
    return 0;
}

/* 1: taken here (handled or dropped); 0: not for this path; -1: error. */
static int lane_rtp(Lane *self, PyObject *data) {
    if (self->inbound == NULL || !PyBytes_CheckExact(data)) return 0;
    Py_ssize_t len = PyBytes_GET_SIZE(data);
    const uint8_t *d = (const uint8_t *)PyBytes_AS_STRING(data);
    /* RFC 7983: 128..191 is RTP/RTCP; RTCP's packet types are 192..208 */
    if (len < 12 || d[0] < 128 || d[0] > 191 || (d[1] > 191 && d[1] < 209)) return 0;
    PyObject *backlog = PyObject_GetAttr(self->fast, s_backlog);
    if (backlog == NULL) return -1;
    Py_DECREF(backlog);
    if (backlog != Py_None) return 0; /* a handler waits: the packets behind it wait too */
    PyObject *state = PyObject_GetAttr(self->dtls, s_state);
    if (state == NULL) return -1;
    Py_DECREF(state);
    if (state != self->connected) return 0;
    self->packets++;
    if (add_to(self->dtls, s_rx_bytes, (long)len) < 0 || add_to(self->dtls, s_rx_packets, 1) < 0)
        return -1;
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return -1;
    uint8_t buf[MAX_DATAGRAM];
    int plain = unprotect(self->inbound, &view, buf, 0);
    PyBuffer_Release(&view);
    if (plain < 0) {
        PyErr_Clear(); /* not authentic: dropped, as aiortc drops it */
        self->dropped++;
        return 1;
    }
    self->inbound->packets++;
    PyObject *packet = parse_packet(buf, plain, self->ids);
    if (packet == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) return -1;
        PyErr_Clear(); /* does not parse: dropped */
        self->dropped++;
        return 1;
    }
    uint32_t ssrc = ((uint32_t)buf[8] << 24) | ((uint32_t)buf[9] << 16) | ((uint32_t)buf[10] << 8) |
                    buf[11];
    PyObject *receiver = known_receiver(self->router, ssrc, buf[1] & 0x7F);
    if (receiver == Py_None) {
        Py_DECREF(receiver);
        receiver = PyObject_CallMethodOneArg(self->router, s_route_rtp, packet);
    }
    if (receiver == NULL) {
        Py_DECREF(packet);
        return -1;
    }
    int r = 1;
    if (receiver == Py_None)
        self->dropped++; /* nobody's: dropped */
    else if (run_handler(self, receiver, packet) < 0)
        r = -1;
    Py_DECREF(receiver);
    Py_DECREF(packet);
    return r;
}

static PyObject *Lane_datagram_received(Lane *self, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "datagram_received(original, data, addr)");
        return NULL;
    }
    PyObject *original = args[0], *data = args[1], *addr = args[2];
    int taken = lane_rtp(self, data);
    if (taken < 0) return NULL;
    if (taken) Py_RETURN_NONE;
    PyObject *r = PyObject_CallOneArg(self->take, data);
    if (r == NULL) return NULL;
    int took = PyObject_IsTrue(r);
    Py_DECREF(r);
    if (took < 0) return NULL;
    if (took) Py_RETURN_NONE;
    return PyObject_CallFunctionObjArgs(original, data, addr, NULL);
}

static PyObject *Lane_get_counter(Lane *self, void *which) {
    return PyLong_FromUnsignedLongLong((intptr_t)which ? self->dropped : self->packets);
}

static PyGetSetDef Lane_getset[] = {
    {"packets", (getter)Lane_get_counter, NULL, "SRTP packets this lane took", (void *)0},
    {"dropped", (getter)Lane_get_counter, NULL,
     "of them, dropped (not authentic, not parsed, nobody's)", (void *)1},
    {NULL},
};

static PyMethodDef Lane_methods[] = {
    {"datagram_received", (PyCFunction)(void (*)(void))Lane_datagram_received, METH_FASTCALL,
     "datagram_received(original, data, addr): a hooked socket's datagram"},
    {NULL},
};

static PyTypeObject LaneType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "classroom.rooms._receive.Lane",
    .tp_basicsize = sizeof(Lane),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Lane(inbound, fast, take, waited, failed, dtls, connected, router, ids, "
              "ntp_offset): a transport's SRTP datagrams to their handler in C",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Lane_init,
    .tp_dealloc = (destructor)Lane_dealloc,
    .tp_traverse = (traverseproc)Lane_traverse,
    .tp_clear = (inquiry)Lane_clear,
    .tp_methods = Lane_methods,
    .tp_getset = Lane_getset,
};

/* --- module --------------------------------------------------------------------------- */

static PyObject *receive_parse(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *ids;
    if (!PyArg_ParseTuple(args, "y*O", &data, &ids)) return NULL;
    PyObject *packet = parse_packet(data.buf, data.len, ids);
    PyBuffer_Release(&data);
    return packet;
}

static PyObject *receive_configure(PyObject *module, PyObject *args) {
    PyObject *packet, *exts;
    if (!PyArg_ParseTuple(args, "O!O!", &PyType_Type, &packet, &PyType_Type, &exts)) return NULL;
    Py_XSETREF(packet_class, Py_NewRef(packet));
    Py_XSETREF(extensions_class, Py_NewRef(exts));
    Py_RETURN_NONE;
}

static PyMethodDef module_methods[] = {
    {"parse", receive_parse, METH_VARARGS, "parse(plain, ids) -> RtpPacket, as RtpPacket.parse"},
    {"configure", receive_configure, METH_VARARGS,
     "configure(RtpPacket, HeaderExtensions): the classes the parse builds"},
    SRTP_LIBRARY_METHODS,
    {NULL},
};

static struct PyModuleDef receive_module = {
    PyModuleDef_HEAD_INIT, "classroom.rooms._receive",
    "The receive path's unprotect and parse in C (libsrtp2).", -1, module_methods,
};

#define INTERN(var, text) \
    if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL

PyMODINIT_FUNC PyInit__receive(void) {
    if (srtp_start() < 0) return NULL;
    INTERN(s_version, "version");
    INTERN(s_marker, "marker");
    INTERN(s_payload_type, "payload_type");
    INTERN(s_sequence_number, "sequence_number");
    INTERN(s_timestamp, "timestamp");
    INTERN(s_ssrc, "ssrc");
    INTERN(s_csrc, "csrc");
    INTERN(s_extensions, "extensions");
    INTERN(s_payload, "payload");
    INTERN(s_padding_size, "padding_size");
    INTERN(s_abs_send_time, "abs_send_time");
    INTERN(s_audio_level, "audio_level");
    INTERN(s_mid, "mid");
    INTERN(s_repaired_rtp_stream_id, "repaired_rtp_stream_id");
    INTERN(s_rtp_stream_id, "rtp_stream_id");
    INTERN(s_transmission_offset, "transmission_offset");
    INTERN(s_transport_sequence_number, "transport_sequence_number");
    INTERN(s_backlog, "_backlog");
    INTERN(s_state, "_state");
    INTERN(s_rx_bytes, "_RTCDtlsTransport__rx_bytes");
    INTERN(s_rx_packets, "_RTCDtlsTransport__rx_packets");
    INTERN(s_ssrc_table, "ssrc_table");
    INTERN(s_payload_type_table, "payload_type_table");
    INTERN(s_route_rtp, "route_rtp");
    INTERN(s_handle_rtp_packet, "_handle_rtp_packet");
    if ((empty_args = PyTuple_New(0)) == NULL || PyType_Ready(&InboundType) < 0 ||
        PyType_Ready(&StatisticsType) < 0 || PyType_Ready(&NacksType) < 0 ||
        PyType_Ready(&LaneType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&receive_module);
    if (m == NULL) return NULL;
    Error = PyErr_NewException("classroom.rooms._receive.Error", NULL, NULL);
    Py_INCREF(&InboundType);
    Py_INCREF(&StatisticsType);
    Py_INCREF(&NacksType);
    Py_INCREF(&LaneType);
    if (Error == NULL || PyModule_AddObject(m, "Inbound", (PyObject *)&InboundType) < 0 ||
        PyModule_AddObject(m, "Statistics", (PyObject *)&StatisticsType) < 0 ||
        PyModule_AddObject(m, "Nacks", (PyObject *)&NacksType) < 0 ||
        PyModule_AddObject(m, "Lane", (PyObject *)&LaneType) < 0 ||
        PyModule_AddIntConstant(m, "RTP_HISTORY_SIZE", RTP_HISTORY_SIZE) < 0 ||
        PyModule_AddObject(m, "Error", Py_NewRef(Error)) < 0 ||
        PyModule_AddIntConstant(m, "MAX_DATAGRAM", MAX_DATAGRAM) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
