/*
 * Raw deflate inflation through Intel ISA-L's isal_inflate, for logdaemon's
 * gzip reader (lib/files/inflater.ts reads the gzip header and trailer and
 * checks the CRC-32 itself, as it does around node:zlib).
 *
 *   const z = new RawInflate()
 *   const code = z.inflate(input, inOff, inLen, out, outOff, outLen, state)
 *   z.close()
 *
 * `inflate` decodes from input[inOff, inOff + inLen) into
 * out[outOff, outOff + outLen) and leaves in `state` (a Uint32Array of 4):
 * [0] the output room left, [1] the input bytes not used, [2] 1 once the
 * deflate data has ended (then [1] counts every byte after its last one:
 * ISA-L reads ahead into a bit buffer, and the whole bytes still there are
 * given back), [3] the CRC-32 of all the output so far. It returns ISA-L's
 * code: 0, or a negative ISAL_* error. ISA-L keeps the last 32 KiB of
 * output itself, so `out` may be reused. Offsets and lengths must be
 * integers inside their buffers (a RangeError otherwise), and the room
 * must not be empty.
 *
 * ISA-L is more lenient than zlib on one kind of malformed data: it
 * decodes a block whose Huffman code is incomplete, which zlib rejects
 * ("invalid literal/lengths set"). Streams zlib accepts decode the same.
 */
#include <isa-l/igzip_lib.h>
#include <node_api.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  struct inflate_state state;
  int closed;
} Inflate;

#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, "ERR_ISAL_ADDON", "isal_inflate: " #call " failed"); \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

static void finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  free(data);
}

static napi_value construct(napi_env env, napi_callback_info info) {
  napi_value self, target;
  CHECK(napi_get_new_target(env, info, &target));
  if (target == NULL) {
    napi_throw_type_error(env, "ERR_CONSTRUCT_CALL_REQUIRED", "RawInflate must be called with new");
    return NULL;
  }
  CHECK(napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  Inflate *z = calloc(1, sizeof(Inflate));
  if (!z) {
    napi_throw_error(env, "ERR_ISAL_ADDON", "isal_inflate: out of memory");
    return NULL;
  }
  isal_inflate_init(&z->state);
  z->state.crc_flag = ISAL_GZIP_NO_HDR;
  if (napi_wrap(env, self, z, finalize, NULL, NULL) != napi_ok) {
    free(z);
    napi_throw_error(env, "ERR_ISAL_ADDON", "isal_inflate: napi_wrap failed");
    return NULL;
  }
  return self;
}

/* The bytes of a Uint8Array (or Buffer) and a uint32 argument. */
static int bytes_of(napi_env env, napi_value value, uint8_t **data, size_t *length) {
  napi_typedarray_type type;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok || type != napi_uint8_array) return 0;
  *data = raw;
  return 1;
}

/* A whole number from 0 to 2^32 - 1 (no wrapping, no NaN). */
static int u32_of(napi_env env, napi_value value, uint32_t *out) {
  double d;
  if (napi_get_value_double(env, value, &d) != napi_ok) return 0;
  if (!(d >= 0 && d <= 4294967295.0) || d != (double)(uint32_t)d) return 0;
  *out = (uint32_t)d;
  return 1;
}

static napi_value inflate(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  napi_value self;
  CHECK(napi_get_cb_info(env, info, &argc, argv, &self, NULL));
  Inflate *z;
  CHECK(napi_unwrap(env, self, (void **)&z));
  uint8_t *in, *out;
  size_t in_len, out_len;
  uint32_t in_off, in_n, out_off, out_n;
  napi_typedarray_type type;
  uint32_t *state;
  size_t state_len;
  if (argc < 7 || !bytes_of(env, argv[0], &in, &in_len) || !u32_of(env, argv[1], &in_off) || !u32_of(env, argv[2], &in_n) ||
      !bytes_of(env, argv[3], &out, &out_len) || !u32_of(env, argv[4], &out_off) || !u32_of(env, argv[5], &out_n) ||
      napi_get_typedarray_info(env, argv[6], &type, &state_len, (void **)&state, NULL, NULL) != napi_ok ||
      type != napi_uint32_array || state_len < 4) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "inflate(input, inOff, inLen, out, outOff, outLen, Uint32Array(4))");
    return NULL;
  }
  if ((uint64_t)in_off + in_n > in_len || (uint64_t)out_off + out_n > out_len || out_n == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", "inflate: a range is outside its buffer, or the output room is empty");
    return NULL;
  }
  if (z->closed) {
    napi_throw_error(env, "ERR_ISAL_CLOSED", "inflate: the inflater is closed");
    return NULL;
  }
  struct inflate_state *s = &z->state;
  int code = 0;
  if (s->block_state != ISAL_BLOCK_FINISH) {
    s->next_in = in + in_off;
    s->avail_in = in_n;
    s->next_out = out + out_off;
    s->avail_out = out_n;
    code = isal_inflate(s);
  } else {
    s->avail_in = in_n;
    s->avail_out = out_n;
  }
  int finished = s->block_state == ISAL_BLOCK_FINISH;
  uint32_t left = s->avail_in;
  if (finished && s->read_in_length >= 8) {
    /* Whole bytes read ahead past the end of the deflate data are not its. */
    left += (uint32_t)(s->read_in_length / 8);
    s->read_in_length %= 8;
  }
  state[0] = s->avail_out;
  state[1] = left;
  state[2] = finished ? 1 : 0;
  state[3] = s->crc;
  s->next_in = NULL;
  s->next_out = NULL;
  napi_value result;
  CHECK(napi_create_int32(env, code, &result));
  return result;
}

static napi_value close_inflate(napi_env env, napi_callback_info info) {
  napi_value self;
  CHECK(napi_get_cb_info(env, info, NULL, NULL, &self, NULL));
  Inflate *z;
  CHECK(napi_unwrap(env, self, (void **)&z));
  z->closed = 1;
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor methods[] = {
    {"inflate", NULL, inflate, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, close_inflate, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_value cls;
  CHECK(napi_define_class(env, "RawInflate", NAPI_AUTO_LENGTH, construct, NULL, 2, methods, &cls));
  CHECK(napi_set_named_property(env, exports, "RawInflate", cls));
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
