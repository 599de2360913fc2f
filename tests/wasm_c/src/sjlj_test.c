/* setjmp/longjmp without a libc, for both lowerings (Wasm exception handling, emscripten-style).
 * try_jump(v): v == 0 -> -2 (no jump); v > 0 -> an inner longjmp(v) caught by nested(), then an
 * outer longjmp(v + 1000) caught by try_jump -> v + 1000. */
#include <stdint.h>

typedef long jmp_buf[8]; /* the lowerings use 2-3 words */
int setjmp(jmp_buf env) __attribute__((returns_twice));
void longjmp(jmp_buf env, int val) __attribute__((noreturn));

static jmp_buf *cur;

__attribute__((noinline)) static void thrower(int v) {
  if (v > 0) longjmp(*cur, v);
}

__attribute__((noinline)) static int nested(int v) {
  jmp_buf inner;
  jmp_buf *saved = cur;
  volatile char scratch[256]; /* shadow stack use that a longjmp must unwind */
  int r;
  scratch[v & 255] = (char)v;
  cur = &inner;
  if ((r = setjmp(inner)) == 0) {
    thrower(v);
    r = -1;
  } else {
    r += 1000 + scratch[v & 255] - (char)v;
  }
  cur = saved;
  return r;
}

__attribute__((export_name("try_jump"))) int try_jump(int v) {
  jmp_buf b;
  int r;
  cur = &b;
  if ((r = setjmp(b)) == 0) {
    int x = nested(v); /* inner catch */
    thrower(x);        /* outer jump with the inner result */
    return -2;
  }
  return r;
}

/* a longjmp with no setjmp active on the stack: nothing catches it */
__attribute__((export_name("jump_nowhere"))) int jump_nowhere(void) {
  static jmp_buf never;
  longjmp(never, 1);
}
