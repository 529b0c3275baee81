// libedit's readline-compatible API (Debian's libedit-dev), plus what the REPL needs around it that Swift cannot
// write safely: a SIGINT handler that only sets a flag, and a read function that turns Ctrl-C at the prompt into
// "cancel this line" instead of end of input.
#ifndef TEXTGAN_CEDITLINE_SHIM_H
#define TEXTGAN_CEDITLINE_SHIM_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <editline/readline.h>

static volatile sig_atomic_t textgan_repl_interrupt_flag = 0;
static volatile sig_atomic_t textgan_repl_line_cancelled_flag = 0;

static inline void textgan_repl_on_sigint(int signo) {
    (void)signo;
    textgan_repl_interrupt_flag = 1;
}

/// Installs the SIGINT handler. No SA_RESTART, so a read blocked at the prompt returns EINTR and the line can be
/// cancelled at once.
static inline int textgan_repl_install_sigint(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = textgan_repl_on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    return sigaction(SIGINT, &action, NULL);
}

/// True once Ctrl-C was pressed since the last `textgan_repl_clear_interrupt`.
static inline int textgan_repl_interrupted(void) { return textgan_repl_interrupt_flag != 0; }

static inline void textgan_repl_clear_interrupt(void) {
    textgan_repl_interrupt_flag = 0;
    textgan_repl_line_cancelled_flag = 0;
}

/// True when the line readline() just returned was ended by Ctrl-C (discard it).
static inline int textgan_repl_line_cancelled(void) { return textgan_repl_line_cancelled_flag != 0; }

/// One byte from `fd`; -1 at end of input or on an error, -2 when Ctrl-C interrupted the read.
static inline int textgan_repl_read_byte(int fd) {
    unsigned char byte;
    for (;;) {
        ssize_t n = read(fd, &byte, 1);
        if (n == 1) return byte;
        if (n == 0) return -1;
        if (errno != EINTR) return -1;
        if (textgan_repl_interrupt_flag) return -2;
    }
}

/// libedit's readline calls this for every character and takes the result as a wide character (a code point), so
/// it decodes UTF-8 itself (an invalid sequence becomes U+FFFD). Ctrl-C prints ^C and ends the line, flagged as
/// cancelled.
static inline int textgan_repl_getc(FILE *stream) {
    int fd = fileno(stream);
    int first = textgan_repl_read_byte(fd);
    if (first == -2) goto cancelled;
    if (first < 0x80) return first;  /* ASCII, or -1 (end of input) */
    int length = first >= 0xF0 && first < 0xF5 ? 4 : first >= 0xE0 ? 3 : first >= 0xC2 && first < 0xE0 ? 2 : 0;
    if (length == 0) return 0xFFFD;
    int codePoint = first & (0x7F >> length);
    for (int i = 1; i < length; i++) {
        int next = textgan_repl_read_byte(fd);
        if (next == -2) goto cancelled;
        if (next < 0) return -1;
        if ((next & 0xC0) != 0x80) return 0xFFFD;
        codePoint = (codePoint << 6) | (next & 0x3F);
    }
    if ((length == 3 && (codePoint < 0x800 || (codePoint >= 0xD800 && codePoint < 0xE000)))
        || (length == 4 && (codePoint < 0x10000 || codePoint > 0x10FFFF)))
        return 0xFFFD;
    return codePoint;
cancelled:
    textgan_repl_interrupt_flag = 0;
    textgan_repl_line_cancelled_flag = 1;
    (void)!write(STDOUT_FILENO, "^C", 2);
    return '\n';
}

/// The words Tab completes at the start of a line (the REPL's slash commands), copied from the Swift side.
static char **textgan_repl_words = NULL;
static int textgan_repl_word_count = 0;

static inline void textgan_repl_set_completions(const char *const *words, int count) {
    for (int i = 0; i < textgan_repl_word_count; i++) free(textgan_repl_words[i]);
    free(textgan_repl_words);
    textgan_repl_words = count > 0 ? (char **)calloc((size_t)count, sizeof(char *)) : NULL;
    textgan_repl_word_count = 0;
    for (int i = 0; i < count && textgan_repl_words != NULL; i++) {
        char *copy = strdup(words[i]);
        if (copy == NULL) break;
        textgan_repl_words[textgan_repl_word_count++] = copy;
    }
}

/// readline's generator: the state-th word that begins with `text` (a fresh copy, which readline frees), or NULL.
static inline char *textgan_repl_complete_word(const char *text, int state) {
    static int next = 0;
    static size_t length = 0;
    if (state == 0) { next = 0; length = strlen(text); }
    while (next < textgan_repl_word_count) {
        const char *word = textgan_repl_words[next++];
        if (strncmp(word, text, length) == 0) return strdup(word);
    }
    return NULL;
}

/// Tab: a slash command at the start of the line; a file name after "/load "; nothing inside a prompt (file names
/// there would only get in the way of the text).
static inline char **textgan_repl_attempt_completion(const char *text, int start, int end) {
    (void)end;
    rl_attempted_completion_over = 1;
    if (start == 0 && text[0] == '/') return rl_completion_matches(text, textgan_repl_complete_word);
    if (rl_line_buffer != NULL && strncmp(rl_line_buffer, "/load ", 6) == 0 && start >= 6) {
        rl_attempted_completion_over = 0;
    }
    return NULL;
}

/// Reads lines through `textgan_repl_getc`, completes slash commands, and leaves signals to the REPL. Call before
/// the first readline().
static inline void textgan_repl_configure_readline(const char *name) {
    rl_readline_name = name;
    rl_catch_signals = 0;
    rl_getc_function = textgan_repl_getc;
    rl_attempted_completion_function = textgan_repl_attempt_completion;
}

#endif
