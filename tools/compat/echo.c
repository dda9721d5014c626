/* A static, libc-free echo for the compat fixtures' image: prints its arguments, then exits with the
   digit of an "exit:N" argument (0 without one). */
__asm__(".globl _start\n_start:\n\tmov %rsp, %rdi\n\tand $-16, %rsp\n\tcall cmain\n\thlt\n");

static long sys3(long n, long a, long b, long c) {
  long r;
  __asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return r;
}

__attribute__((noreturn, used)) void cmain(long *sp) {
  long argc = sp[0];
  char **argv = (char **)(sp + 1);
  int code = 0;
  for (long i = 1; i < argc; i++) {
    const char *s = argv[i];
    long n = 0;
    while (s[n] != 0) n++;
    if (n == 6 && s[0] == 'e' && s[1] == 'x' && s[2] == 'i' && s[3] == 't' && s[4] == ':' && s[5] >= '0' && s[5] <= '9') code = s[5] - '0';
    sys3(1, 1, (long)s, n);
    sys3(1, 1, (long)(i + 1 < argc ? " " : "\n"), 1);
  }
  sys3(60, code, 0, 0);
  for (;;) {}
}
