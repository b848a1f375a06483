/* The send fan-out in C: rewrite, SRTP protect and sendto for every slot of one packet.
 *
 * `Stream` is one outbound RTP stream (the state of rooms/rtp.py's OutboundStream, its
 * NACK history and its sender-report counters); `Transport` is one subscriber's SRTP
 * context (libsrtp, keyed from its DTLS handshake) and its UDP socket and remote address.
 * `send()` takes one inbound packet and the streams it goes to, and does the per-slot
 * work with the GIL released. The pure-Python path (rooms/fanout.py) builds the very same
 * packets; the tests compare them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <srtp2/srtp.h>

#include "_srtp_session.h"

#define HISTORY 128
#define RESEND_GAP_S 0.1
#define MAX_RESENDS 2
#define MAX_PACKET 1500
#define MAX_PREFIX 24
#define BUF_SIZE (12 + MAX_PREFIX + 4 + 3 + MAX_PACKET + SRTP_MAX_TRAILER_LEN)

/* --- Transport ------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    srtp_t session;
    const srtp_api_t *api; /* the libsrtp `session` was made with */
    int fd;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    unsigned long long packets, octets, dropped, errors;
} Transport;

static int set_addr(Transport *self, int fd, const char *host, int port) {
    struct sockaddr_in *in4 = (struct sockaddr_in *)&self->addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&self->addr;
    memset(&self->addr, 0, sizeof(self->addr));
    if (port < 0 || port > 65535) {
        PyErr_SetString(PyExc_ValueError, "bad port");
        return -1;
    }
    if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)port);
        self->addrlen = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)port);
        self->addrlen = sizeof(*in6);
    } else {
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", host);
        return -1;
    }
    self->fd = fd;
    return 0;
}

static int Transport_init(Transport *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"profile", "key", "fd", "host", "port", NULL};
    int profile, fd, port;
    Py_buffer key;
    const char *host;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "iy*isi", kw, &profile, &key, &fd, &host, &port))
        return -1;
    int made = srtp_session_make(&self->api, &self->session, profile, &key, 0);
    PyBuffer_Release(&key);
    if (made < 0) return -1;
    return set_addr(self, fd, host, port);
}

static void Transport_dealloc(Transport *self) {
    if (self->session != NULL) self->api->dealloc(self->session);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Transport_retarget(Transport *self, PyObject *args) {
    int fd, port;
    const char *host;
    if (!PyArg_ParseTuple(args, "isi", &fd, &host, &port)) return NULL;
    if (set_addr(self, fd, host, port) < 0) return NULL;
    Py_RETURN_NONE;
}

/* Protect `*len` bytes of `buf` (room for the trailer) and send; 0 sent, 1 dropped
 * (the socket's buffer is full), 2 not protected (nothing to keep), -1 the socket is
 * unusable. */
static int protect_send(Transport *t, uint8_t *buf, int *len) {
    if (t->api->protect(t->session, buf, len) != srtp_err_status_ok) {
        t->errors++;
        return 2;
    }
    if (t->fd < 0) return -1;
    ssize_t n = sendto(t->fd, buf, (size_t)*len, 0, (struct sockaddr *)&t->addr, t->addrlen);
    if (n >= 0) {
        t->packets++;
        t->octets += (unsigned long long)*len;
        return 0;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR ||
        errno == ECONNREFUSED || errno == EHOSTUNREACH || errno == ENETUNREACH) {
        t->dropped++;
        return 1;
    }
    t->errors++;
    return -1;
}

static PyObject *Transport_get_counter(Transport *self, void *which) {
    switch ((intptr_t)which) {
        case 0: return PyLong_FromUnsignedLongLong(self->packets);
        case 1: return PyLong_FromUnsignedLongLong(self->octets);
        case 2: return PyLong_FromUnsignedLongLong(self->dropped);
        default: return PyLong_FromUnsignedLongLong(self->errors);
    }
}

static PyGetSetDef Transport_getset[] = {
    {"packets", (getter)Transport_get_counter, NULL, "packets sent", (void *)0},
    {"octets", (getter)Transport_get_counter, NULL, "SRTP octets sent", (void *)1},
    {"dropped", (getter)Transport_get_counter, NULL, "packets dropped (full socket)", (void *)2},
    {"errors", (getter)Transport_get_counter, NULL, "protect or socket errors", (void *)3},
    {NULL},
};

static PyMethodDef Transport_methods[] = {
    {"retarget", (PyCFunction)Transport_retarget, METH_VARARGS,
     "retarget(fd, host, port): the subscriber's selected pair changed"},
    {NULL},
};

static PyTypeObject TransportType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "classroom.rooms._fanout.Transport",
    .tp_basicsize = sizeof(Transport),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Transport(profile, key, fd, host, port): one subscriber's SRTP context and socket",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Transport_init,
    .tp_dealloc = (destructor)Transport_dealloc,
    .tp_methods = Transport_methods,
    .tp_getset = Transport_getset,
};

/* --- Stream --------------------------------------------------------------------------- */

typedef struct {
    int32_t seq; /* -1: empty */
    uint8_t resends;
    double sent_again_at;
    int len;
    uint8_t *data; /* the protected packet, sent again as it is */
} Kept;

typedef struct {
    PyObject_HEAD
    Transport *transport; /* NULL: not sent natively */
    uint32_t ssrc, clock_rate;
    uint8_t payload_type;
    uint8_t prefix[MAX_PREFIX];
    int prefix_len, suffix_len;
    int dynamic; /* 0 none, 1 audio level, 2 abs-send-time */
    int dynamic_id;
    uint16_t seq_off, last_seq;
    uint32_t ts_off, last_ts;
    double last_wall;
    int rebase;
    unsigned long long packets, octets, last_ntp, dropped;
    double sent_at;
    Kept *history; /* HISTORY entries for video, NULL for audio */
} Stream;

static int Stream_init(Stream *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"ssrc", "payload_type", "clock_rate", "prefix", "suffix_len", "dynamic",
                         "dynamic_id", "last_seq", "last_ts", "history", NULL};
    unsigned int ssrc, clock_rate, last_ts;
    int pt, suffix_len, dynamic, dynamic_id, last_seq, history;
    Py_buffer prefix;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "Iiiy*iiiiIp", kw, &ssrc, &pt, &clock_rate,
                                     &prefix, &suffix_len, &dynamic, &dynamic_id, &last_seq,
                                     &last_ts, &history))
        return -1;
    if (prefix.len > MAX_PREFIX || suffix_len < 0 || suffix_len > 3 || dynamic < 0 ||
        dynamic > 2 || pt < 0 || pt > 127) {
        PyBuffer_Release(&prefix);
        PyErr_SetString(PyExc_ValueError, "bad stream layout");
        return -1;
    }
    self->ssrc = ssrc;
    self->payload_type = (uint8_t)pt;
    self->clock_rate = clock_rate;
    memcpy(self->prefix, prefix.buf, (size_t)prefix.len);
    self->prefix_len = (int)prefix.len;
    PyBuffer_Release(&prefix);
    self->suffix_len = suffix_len;
    self->dynamic = dynamic;
    self->dynamic_id = dynamic_id & 0x0F;
    self->last_seq = (uint16_t)last_seq;
    self->last_ts = last_ts;
    self->rebase = 1;
    if (history && self->history == NULL) {
        self->history = PyMem_Calloc(HISTORY, sizeof(Kept));
        if (self->history == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (int i = 0; i < HISTORY; i++) self->history[i].seq = -1;
    }
    return 0;
}

static void Stream_dealloc(Stream *self) {
    if (self->history != NULL) {
        for (int i = 0; i < HISTORY; i++) free(self->history[i].data);
        PyMem_Free(self->history);
    }
    Py_XDECREF(self->transport);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* The rewritten header of one packet into `buf`; returns its length. `dyn`: the per-packet
 * element (2 or 4 bytes, or 0) already built for this stream's id. */
static int write_header(Stream *s, uint8_t *buf, uint16_t seq, uint32_t timestamp, int marker,
                        const uint8_t *dyn, int dyn_len, double now, uint16_t *out_seq_p) {
    if (s->rebase) {
        s->rebase = 0;
        s->seq_off = (uint16_t)(s->last_seq + 1 - seq);
        long long gap = s->last_wall ? (long long)((now - s->last_wall) * s->clock_rate) : 0;
        if (gap < 1) gap = 1;
        s->ts_off = (uint32_t)((unsigned long long)s->last_ts + (unsigned long long)gap - timestamp);
    }
    uint16_t out_seq = (uint16_t)(seq + s->seq_off);
    uint32_t out_ts = timestamp + s->ts_off;
    if ((uint16_t)(out_seq - s->last_seq) < 0x8000) {
        s->last_seq = out_seq;
        s->last_ts = out_ts;
        s->last_wall = now;
    }
    buf[0] = 0x90;
    buf[1] = (uint8_t)((marker ? 0x80 : 0) | s->payload_type);
    buf[2] = out_seq >> 8;
    buf[3] = out_seq & 0xFF;
    buf[4] = out_ts >> 24;
    buf[5] = (out_ts >> 16) & 0xFF;
    buf[6] = (out_ts >> 8) & 0xFF;
    buf[7] = out_ts & 0xFF;
    buf[8] = s->ssrc >> 24;
    buf[9] = (s->ssrc >> 16) & 0xFF;
    buf[10] = (s->ssrc >> 8) & 0xFF;
    buf[11] = s->ssrc & 0xFF;
    int n = 12;
    memcpy(buf + n, s->prefix, (size_t)s->prefix_len);
    n += s->prefix_len;
    memcpy(buf + n, dyn, (size_t)dyn_len);
    n += dyn_len;
    memset(buf + n, 0, (size_t)s->suffix_len);
    n += s->suffix_len;
    *out_seq_p = out_seq;
    return n;
}

/* The per-packet element for `s`: audio level or abs-send-time (rooms/rtp.py). */
static int dynamic_element(Stream *s, uint8_t *out, int voice, int level, unsigned long long ntp) {
    if (s->dynamic == 1) {
        out[0] = (uint8_t)(s->dynamic_id << 4);
        out[1] = (uint8_t)((voice ? 0x80 : 0) | (level & 0x7F));
        return 2;
    }
    if (s->dynamic == 2) {
        uint32_t v = (uint32_t)((ntp >> 14) & 0x00FFFFFF);
        out[0] = (uint8_t)((s->dynamic_id << 4) | 2);
        out[1] = v >> 16;
        out[2] = (v >> 8) & 0xFF;
        out[3] = v & 0xFF;
        return 4;
    }
    return 0;
}

static PyObject *Stream_build(Stream *self, PyObject *args) {
    /* build(seq, timestamp, marker, payload, ext_dynamic, now) -> (seq, bytes): the
     * OutboundStream API, for packets that leave through aiortc (the Python path). */
    int seq, marker;
    unsigned int timestamp;
    Py_buffer payload, dyn;
    double now;
    if (!PyArg_ParseTuple(args, "iIpy*y*d", &seq, &timestamp, &marker, &payload, &dyn, &now))
        return NULL;
    if (dyn.len > 4) {
        PyBuffer_Release(&payload);
        PyBuffer_Release(&dyn);
        PyErr_SetString(PyExc_ValueError, "the per-packet element is at most 4 bytes");
        return NULL;
    }
    /* Any payload size: the Python way also carries what send() does not take. */
    uint8_t header[12 + MAX_PREFIX + 4 + 3];
    uint16_t out_seq;
    int n = write_header(self, header, (uint16_t)seq, timestamp, marker, dyn.buf, (int)dyn.len,
                         now, &out_seq);
    PyObject *data = PyBytes_FromStringAndSize(NULL, n + payload.len);
    if (data != NULL) {
        memcpy(PyBytes_AS_STRING(data), header, (size_t)n);
        memcpy(PyBytes_AS_STRING(data) + n, payload.buf, (size_t)payload.len);
    }
    PyBuffer_Release(&payload);
    PyBuffer_Release(&dyn);
    if (data == NULL) return NULL;
    return Py_BuildValue("(iN)", (int)out_seq, data);
}

static PyObject *Stream_rebase(Stream *self, PyObject *Py_UNUSED(ignored)) {
    self->rebase = 1;
    Py_RETURN_NONE;
}

static void keep(Stream *s, uint16_t seq, const uint8_t *data, int len) {
    if (s->history == NULL) return;
    Kept *k = &s->history[seq % HISTORY];
    uint8_t *copy = realloc(k->data, (size_t)len);
    if (copy == NULL) {
        k->seq = -1;
        return;
    }
    memcpy(copy, data, (size_t)len);
    k->data = copy;
    k->len = len;
    k->seq = seq;
    k->resends = 0;
}

static PyObject *Stream_resend(Stream *self, PyObject *args) {
    /* resend(seq, now) -> 0 sent, 1 throttled, 2 missed, 3 not sent (socket): a NACK. */
    int seq;
    double now;
    if (!PyArg_ParseTuple(args, "id", &seq, &now)) return NULL;
    if (self->history == NULL) return PyLong_FromLong(2);
    Kept *k = &self->history[(seq & 0xFFFF) % HISTORY];
    if (k->seq != (seq & 0xFFFF) || k->data == NULL) return PyLong_FromLong(2);
    if (k->resends >= MAX_RESENDS || (k->resends && now - k->sent_again_at < RESEND_GAP_S))
        return PyLong_FromLong(1);
    k->resends++;
    k->sent_again_at = now;
    Transport *t = self->transport;
    if (t == NULL || t->fd < 0) return PyLong_FromLong(3);
    ssize_t r = sendto(t->fd, k->data, (size_t)k->len, 0, (struct sockaddr *)&t->addr, t->addrlen);
    if (r < 0) {
        t->dropped++;
        return PyLong_FromLong(3);
    }
    t->packets++;
    t->octets += (unsigned long long)k->len;
    return PyLong_FromLong(0);
}

static PyObject *Stream_count(Stream *self, PyObject *args) {
    /* count(payload_len, ntp, now): a packet of this stream left the Python way. */
    Py_ssize_t len;
    unsigned long long ntp;
    double now;
    if (!PyArg_ParseTuple(args, "nKd", &len, &ntp, &now)) return NULL;
    self->packets++;
    self->octets += (unsigned long long)len;
    self->last_ntp = ntp;
    self->sent_at = now;
    Py_RETURN_NONE;
}

static PyObject *Stream_get_transport(Stream *self, void *closure) {
    if (self->transport == NULL) Py_RETURN_NONE;
    Py_INCREF(self->transport);
    return (PyObject *)self->transport;
}

static int Stream_set_transport(Stream *self, PyObject *value, void *closure) {
    if (value != NULL && value != Py_None && !PyObject_TypeCheck(value, &TransportType)) {
        PyErr_SetString(PyExc_TypeError, "transport must be a Transport or None");
        return -1;
    }
    Transport *old = self->transport;
    if (value == NULL || value == Py_None) {
        self->transport = NULL;
    } else {
        Py_INCREF(value);
        self->transport = (Transport *)value;
    }
    Py_XDECREF(old);
    return 0;
}

static PyObject *Stream_get(Stream *self, void *which) {
    switch ((intptr_t)which) {
        case 0: return PyLong_FromUnsignedLong(self->last_ts);
        case 1: return PyLong_FromUnsignedLongLong(self->packets);
        case 2: return PyLong_FromUnsignedLongLong(self->octets);
        case 3: return PyLong_FromUnsignedLongLong(self->last_ntp);
        case 4: return PyFloat_FromDouble(self->sent_at);
        case 5: return PyLong_FromUnsignedLongLong(self->dropped);
        case 6: return PyLong_FromUnsignedLong(self->ssrc);
        case 8: return PyLong_FromLong(self->last_seq);
        default: return PyLong_FromLong(self->payload_type);
    }
}

static PyGetSetDef Stream_getset[] = {
    {"transport", (getter)Stream_get_transport, (setter)Stream_set_transport,
     "where send() sends this stream's packets (None: nowhere)", NULL},
    {"last_timestamp", (getter)Stream_get, NULL, "newest RTP timestamp sent", (void *)0},
    {"packets", (getter)Stream_get, NULL, "packets sent", (void *)1},
    {"octets", (getter)Stream_get, NULL, "payload octets sent", (void *)2},
    {"last_ntp", (getter)Stream_get, NULL, "NTP time of the newest packet", (void *)3},
    {"sent_at", (getter)Stream_get, NULL, "monotonic time of the newest packet", (void *)4},
    {"dropped", (getter)Stream_get, NULL, "packets dropped (full socket)", (void *)5},
    {"ssrc", (getter)Stream_get, NULL, "SSRC", (void *)6},
    {"payload_type", (getter)Stream_get, NULL, "payload type", (void *)7},
    {"last_sequence", (getter)Stream_get, NULL, "newest sequence number sent", (void *)8},
    {NULL},
};

static PyMethodDef Stream_methods[] = {
    {"build", (PyCFunction)Stream_build, METH_VARARGS, "build one packet (OutboundStream API)"},
    {"rebase", (PyCFunction)Stream_rebase, METH_NOARGS, "the next packet starts a new source"},
    {"resend", (PyCFunction)Stream_resend, METH_VARARGS, "answer a NACK for one packet"},
    {"count", (PyCFunction)Stream_count, METH_VARARGS, "count a packet sent the Python way"},
    {NULL},
};

static PyTypeObject StreamType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "classroom.rooms._fanout.Stream",
    .tp_basicsize = sizeof(Stream),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
    .tp_doc = "One outbound RTP stream: rewrite state, NACK history, counters",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Stream_init,
    .tp_dealloc = (destructor)Stream_dealloc,
    .tp_methods = Stream_methods,
    .tp_getset = Stream_getset,
};

/* --- send ----------------------------------------------------------------------------- */

static PyObject *fanout_send(PyObject *module, PyObject *args) {
    /* send(streams, payload, seq, timestamp, marker, voice, level, ntp, now) -> failed:
     * rewrite, protect and send one packet on every stream (each with a transport);
     * `failed` is None, or the indices of the streams whose socket is unusable. A full
     * socket buffer drops the packet and counts it (`dropped`). */
    PyObject *seq_obj;
    Py_buffer payload;
    int seq, marker, voice, level;
    unsigned int timestamp;
    unsigned long long ntp;
    double now;
    if (!PyArg_ParseTuple(args, "Oy*iIppiKd", &seq_obj, &payload, &seq, &timestamp, &marker,
                          &voice, &level, &ntp, &now))
        return NULL;
    PyObject *fast = PySequence_Fast(seq_obj, "streams must be a sequence");
    if (fast == NULL) {
        PyBuffer_Release(&payload);
        return NULL;
    }
    Py_ssize_t count = PySequence_Fast_GET_SIZE(fast);
    if (payload.len > MAX_PACKET) {
        Py_DECREF(fast);
        PyBuffer_Release(&payload);
        PyErr_SetString(PyExc_ValueError, "packet too large");
        return NULL;
    }
    PyObject **items = PySequence_Fast_ITEMS(fast);
    for (Py_ssize_t i = 0; i < count; i++) {
        if (!PyObject_TypeCheck(items[i], &StreamType) || ((Stream *)items[i])->transport == NULL) {
            Py_DECREF(fast);
            PyBuffer_Release(&payload);
            PyErr_SetString(PyExc_TypeError, "every stream must be a Stream with a transport");
            return NULL;
        }
    }
    char failed_small[64];
    char *failed = count <= 64 ? failed_small : PyMem_Malloc((size_t)count);
    if (failed == NULL) {
        Py_DECREF(fast);
        PyBuffer_Release(&payload);
        return PyErr_NoMemory();
    }
    int any_failed = 0;
    /* `fast` holds a reference to every stream (and each stream to its transport) while
     * the GIL is released; the server's event loop is the only thread using them. */
    Py_BEGIN_ALLOW_THREADS
    uint8_t buf[BUF_SIZE];
    for (Py_ssize_t i = 0; i < count; i++) {
        Stream *s = (Stream *)items[i];
        uint8_t dyn[4];
        int dyn_len = dynamic_element(s, dyn, voice, level, ntp);
        uint16_t out_seq;
        int n = write_header(s, buf, (uint16_t)seq, timestamp, marker, dyn, dyn_len, now,
                             &out_seq);
        memcpy(buf + n, payload.buf, (size_t)payload.len);
        n += (int)payload.len;
        int r = protect_send(s->transport, buf, &n);
        failed[i] = r < 0;
        if (r < 0) {
            any_failed = 1;
            continue;
        }
        /* A dropped packet was protected (the SRTP index advanced): it is kept, so a NACK
         * can bring it, and counted as sent, as a packet lost on the way would be. */
        if (r > 0) s->dropped++;
        if (r < 2) keep(s, out_seq, buf, n);
        s->packets++;
        s->octets += (unsigned long long)payload.len;
        s->last_ntp = ntp;
        s->sent_at = now;
    }
    Py_END_ALLOW_THREADS
    Py_DECREF(fast);
    PyBuffer_Release(&payload);
    PyObject *result = NULL;
    if (!any_failed) {
        result = Py_None;
        Py_INCREF(result);
    } else {
        result = PyList_New(0);
        for (Py_ssize_t i = 0; result != NULL && i < count; i++) {
            if (!failed[i]) continue;
            PyObject *index = PyLong_FromSsize_t(i);
            if (index == NULL || PyList_Append(result, index) < 0) Py_CLEAR(result);
            Py_XDECREF(index);
        }
    }
    if (failed != failed_small) PyMem_Free(failed);
    return result;
}

static PyMethodDef module_methods[] = {
    {"send", fanout_send, METH_VARARGS, "rewrite, protect and send one packet on many streams"},
    SRTP_LIBRARY_METHODS,
    {NULL},
};

static struct PyModuleDef fanout_module = {
    PyModuleDef_HEAD_INIT, "classroom.rooms._fanout", "The send fan-out in C (libsrtp2).", -1,
    module_methods,
};

PyMODINIT_FUNC PyInit__fanout(void) {
    if (srtp_start() < 0) return NULL;
    if (PyType_Ready(&TransportType) < 0 || PyType_Ready(&StreamType) < 0) return NULL;
    PyObject *m = PyModule_Create(&fanout_module);
    if (m == NULL) return NULL;
    Py_INCREF(&TransportType);
    Py_INCREF(&StreamType);
    if (PyModule_AddObject(m, "Transport", (PyObject *)&TransportType) < 0 ||
        PyModule_AddObject(m, "Stream", (PyObject *)&StreamType) < 0 ||
        PyModule_AddIntConstant(m, "HISTORY", HISTORY) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
