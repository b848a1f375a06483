/* A publisher's per-SSRC receive bookkeeping in C: the receiver-report statistics and the
 * NACK generator, as aiortc's `StreamStatistics` and `NackGenerator`
 * (aiortc/rtcrtpreceiver.py), attribute for attribute.
 *
 * Both run on every inbound RTP packet (`aiortc_hooks.tap_receiver`), and in Python they
 * were most of what the receive path still spent after the unprotect and parse moved to C:
 * a handful of `uint16_gt` calls, a `time.time()` and attribute writes per packet, and after
 * any loss a walk over the whole missing set on every packet until the gap aged out. The
 * objects stay readable by aiortc's own code (its receiver reports and getStats read the
 * statistics from its `__remote_streams`), and tests/unit/test_receive_stats.py feeds the
 * same sequences to these and to aiortc's and compares everything they expose.
 *
 * The NACK generator keeps the missing packets as a bitmap of the RTP_HISTORY_SIZE sequence
 * numbers before the newest one: aiortc's set holds exactly those (it drops every older one
 * after each packet, and nothing newer than the newest can be missing).
 *
 * Included once, by _receive.c; `s_sequence_number` and `s_timestamp` are its interned names.
 */
#include <math.h>
#include <stdint.h>
#include <time.h>

#define RTP_HISTORY_SIZE 128
#define PACKETS_LOST_MIN (-(1 << 23))
#define PACKETS_LOST_MAX ((1 << 23) - 1)

/* aiortc's uint16_gt: a is newer than b (a difference of exactly 0x8000 is neither). */
static int uint16_gt(long a, long b) {
    return (a < b && b - a > 0x8000) || (a > b && a - b < 0x8000);
}

/* time.time(): seconds since the Unix epoch, as a double. */
static double wall_clock(void) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (double)now.tv_sec + (double)now.tv_nsec * 1e-9;
}

/* The packet's sequence number (and timestamp) as aiortc's code reads them. */
static int packet_fields(PyObject *packet, long *seq, long long *timestamp) {
    PyObject *v = PyObject_GetAttr(packet, s_sequence_number);
    if (v == NULL) return -1;
    *seq = PyLong_AsLong(v);
    Py_DECREF(v);
    if (*seq == -1 && PyErr_Occurred()) return -1;
    if (timestamp == NULL) return 0;
    v = PyObject_GetAttr(packet, s_timestamp);
    if (v == NULL) return -1;
    *timestamp = PyLong_AsLongLong(v);
    Py_DECREF(v);
    if (*timestamp == -1 && PyErr_Occurred()) return -1;
    return 0;
}

/* --- Statistics ----------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    int has_base, has_max, has_last;
    long base_seq, max_seq;
    long long cycles, packets_received;
    long long clockrate, jitter_q4, last_arrival, last_timestamp;
    long long expected_prior, received_prior;
} Statistics;

static int Statistics_init(Statistics *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {"clockrate", NULL};
    long long clockrate;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "L", kw, &clockrate)) return -1;
    memset((char *)self + sizeof(PyObject), 0, sizeof(Statistics) - sizeof(PyObject));
    self->clockrate = clockrate;
    return 0;
}

static PyObject *Statistics_add(Statistics *self, PyObject *packet) {
    long seq;
    long long timestamp;
    if (packet_fields(packet, &seq, &timestamp) < 0) return NULL;
    int in_order = !self->has_max || uint16_gt(seq, self->max_seq);
    self->packets_received++;
    if (!self->has_base) {
        self->base_seq = seq;
        self->has_base = 1;
    }
    if (in_order) {
        /* int(time.time() * clockrate), as aiortc (a double, truncated) */
        long long arrival = (long long)(wall_clock() * (double)self->clockrate);
        if (self->has_max && seq < self->max_seq) self->cycles += 1 << 16;
        self->max_seq = seq;
        self->has_max = 1;
        if (self->has_last && timestamp != self->last_timestamp && self->packets_received > 1) {
            long long diff = (arrival - self->last_arrival) - (timestamp - self->last_timestamp);
            if (diff < 0) diff = -diff;
            self->jitter_q4 += diff - ((self->jitter_q4 + 8) >> 4);
        }
        self->last_arrival = arrival;
        self->last_timestamp = timestamp;
        self->has_last = 1;
    }
    Py_RETURN_NONE;
}

static long long Statistics_expected(Statistics *self) {
    return self->cycles + self->max_seq - self->base_seq + 1;
}

static int Statistics_started(Statistics *self) {
    if (self->has_max && self->has_base) return 1;
    /* aiortc would fail on None arithmetic: a clear error instead */
    PyErr_SetString(PyExc_ValueError, "no packet was added yet");
    return 0;
}

static PyObject *Statistics_get_fraction_lost(Statistics *self, void *closure) {
    if (!Statistics_started(self)) return NULL;
    long long expected = Statistics_expected(self);
    long long expected_interval = expected - self->expected_prior;
    self->expected_prior = expected;
    long long received_interval = self->packets_received - self->received_prior;
    self->received_prior = self->packets_received;
    long long lost_interval = expected_interval - received_interval;
    if (expected_interval == 0 || lost_interval <= 0) return PyLong_FromLong(0);
    /* Python's floor division (both positive here) */
    return PyLong_FromLongLong((lost_interval << 8) / expected_interval);
}

static PyObject *Statistics_get_jitter(Statistics *self, void *closure) {
    return PyLong_FromLongLong(self->jitter_q4 >> 4);
}

static PyObject *Statistics_get_packets_expected(Statistics *self, void *closure) {
    if (!Statistics_started(self)) return NULL;
    return PyLong_FromLongLong(Statistics_expected(self));
}

static PyObject *Statistics_get_packets_lost(Statistics *self, void *closure) {
    if (!Statistics_started(self)) return NULL;
    long long lost = Statistics_expected(self) - self->packets_received;
    if (lost < PACKETS_LOST_MIN) lost = PACKETS_LOST_MIN;
    if (lost > PACKETS_LOST_MAX) lost = PACKETS_LOST_MAX;
    return PyLong_FromLongLong(lost);
}

static PyObject *optional_seq(int has, long value) {
    if (!has) Py_RETURN_NONE;
    return PyLong_FromLong(value);
}

static PyObject *Statistics_get_base_seq(Statistics *self, void *closure) {
    return optional_seq(self->has_base, self->base_seq);
}

static PyObject *Statistics_get_max_seq(Statistics *self, void *closure) {
    return optional_seq(self->has_max, self->max_seq);
}

static PyObject *Statistics_get_cycles(Statistics *self, void *closure) {
    return PyLong_FromLongLong(self->cycles);
}

static PyObject *Statistics_get_packets_received(Statistics *self, void *closure) {
    return PyLong_FromLongLong(self->packets_received);
}

static PyGetSetDef Statistics_getset[] = {
    {"fraction_lost", (getter)Statistics_get_fraction_lost, NULL,
     "lost since the last read, in 1/256 (reading it starts the next interval)", NULL},
    {"jitter", (getter)Statistics_get_jitter, NULL, "interarrival jitter, RTP clock units", NULL},
    {"packets_expected", (getter)Statistics_get_packets_expected, NULL, NULL, NULL},
    {"packets_lost", (getter)Statistics_get_packets_lost, NULL, "cumulative, clamped", NULL},
    {"base_seq", (getter)Statistics_get_base_seq, NULL, NULL, NULL},
    {"max_seq", (getter)Statistics_get_max_seq, NULL, NULL, NULL},
    {"cycles", (getter)Statistics_get_cycles, NULL, NULL, NULL},
    {"packets_received", (getter)Statistics_get_packets_received, NULL, NULL, NULL},
    {NULL},
};

static PyMethodDef Statistics_methods[] = {
    {"add", (PyCFunction)Statistics_add, METH_O, "add(packet): one received RTP packet"},
    {NULL},
};

static PyTypeObject StatisticsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "classroom.rooms._receive.Statistics",
    .tp_basicsize = sizeof(Statistics),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Statistics(clockrate): one received stream's receiver-report statistics, as "
              "aiortc's StreamStatistics",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Statistics_init,
    .tp_methods = Statistics_methods,
    .tp_getset = Statistics_getset,
};

/* --- Nacks ------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    int has_max;
    long max_seq;
    /* bit k - 1 (k = 1 .. RTP_HISTORY_SIZE): max_seq - k is missing */
    uint64_t lost[RTP_HISTORY_SIZE / 64];
} Nacks;

static int Nacks_init(Nacks *self, PyObject *args, PyObject *kwds) {
    static char *kw[] = {NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "", kw)) return -1;
    self->has_max = 0;
    self->max_seq = 0;
    memset(self->lost, 0, sizeof self->lost);
    return 0;
}

/* Every bit moves `d` places older (d ≥ 1); the oldest fall off the end. */
static void lost_shift(uint64_t lost[2], long d) {
    if (d >= RTP_HISTORY_SIZE) {
        lost[0] = lost[1] = 0;
    } else if (d >= 64) {
        lost[1] = lost[0] << (d - 64);
        lost[0] = 0;
    } else {
        lost[1] = (lost[1] << d) | (lost[0] >> (64 - d));
        lost[0] <<= d;
    }
}

static void lost_set(uint64_t lost[2], long k, int on) {
    uint64_t bit = (uint64_t)1 << ((k - 1) % 64);
    uint64_t *word = &lost[(k - 1) / 64];
    *word = on ? (*word | bit) : (*word & ~bit);
}

static PyObject *Nacks_add(Nacks *self, PyObject *packet) {
    long seq;
    if (packet_fields(packet, &seq, NULL) < 0) return NULL;
    if (!self->has_max) {
        self->max_seq = seq;
        self->has_max = 1;
        Py_RETURN_FALSE;
    }
    int missed = 0;
    if (uint16_gt(seq, self->max_seq)) {
        long d = (seq - self->max_seq) & 0xFFFF;
        lost_shift(self->lost, d);
        /* max_seq + 1 .. seq - 1 were skipped: k = 1 .. d - 1 from the new newest */
        for (long k = 1; k < d && k <= RTP_HISTORY_SIZE; k++) lost_set(self->lost, k, 1);
        missed = d > 1;
        self->max_seq = seq;
    } else {
        long k = (self->max_seq - seq) & 0xFFFF;
        if (k >= 1 && k <= RTP_HISTORY_SIZE) lost_set(self->lost, k, 0);
    }
    return PyBool_FromLong(missed);
}

static PyObject *Nacks_get_missing(Nacks *self, void *closure) {
    PyObject *set = PySet_New(NULL);
    if (set == NULL) return NULL;
    for (long k = 1; self->has_max && k <= RTP_HISTORY_SIZE; k++) {
        if (!(self->lost[(k - 1) / 64] >> ((k - 1) % 64) & 1)) continue;
        PyObject *seq = PyLong_FromLong((self->max_seq - k) & 0xFFFF);
        if (seq == NULL || PySet_Add(set, seq) < 0) {
            Py_XDECREF(seq);
            Py_DECREF(set);
            return NULL;
        }
        Py_DECREF(seq);
    }
    return set;
}

static PyObject *Nacks_get_max_seq(Nacks *self, void *closure) {
    return optional_seq(self->has_max, self->max_seq);
}

static PyGetSetDef Nacks_getset[] = {
    {"missing", (getter)Nacks_get_missing, NULL,
     "the sequence numbers missing among the last RTP_HISTORY_SIZE (a new set)", NULL},
    {"max_seq", (getter)Nacks_get_max_seq, NULL, "the newest sequence number", NULL},
    {NULL},
};

static PyMethodDef Nacks_methods[] = {
    {"add", (PyCFunction)Nacks_add, METH_O,
     "add(packet) -> bool: one received RTP packet; True if it revealed new losses"},
    {NULL},
};

static PyTypeObject NacksType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "classroom.rooms._receive.Nacks",
    .tp_basicsize = sizeof(Nacks),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Nacks(): one received stream's NACK generator, as aiortc's NackGenerator",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Nacks_init,
    .tp_methods = Nacks_methods,
    .tp_getset = Nacks_getset,
};
