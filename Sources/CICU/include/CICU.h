// A small C shim over the system ICU (Debian's libicu-dev), exposing only plain C types.
//
// ICU's headers are included only in CICU.c: Foundation on Linux carries its own private ICU, whose C types would
// clash with the system headers if Swift saw both. ICU's exported names carry its version (ubrk_open_72); the .c
// file is compiled against unicode/*.h, whose renaming macros pick the right names, so Swift never sees them.
//
// Text is UTF-16 (uint16_t, ICU's UChar). Functions return an ICU error code through `error` (0 = success,
// negative = warning, positive = failure); `cicu_error_name` turns it into ICU's name for it.
#ifndef CICU_H
#define CICU_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Word boundaries of `text` by ICU's word break rules (root locale; dictionaries for Chinese, Japanese, Thai, …).
/// Writes up to `capacity` boundary offsets (UTF-16 units, starting with 0 and ending with `length`) to `boundaries`
/// and ICU's rule status of the segment ending at each boundary to `statuses` (may be NULL).
/// `capacity` = `length` + 1 always suffices. Returns the number of boundaries written.
int32_t cicu_word_boundaries(const uint16_t *text, int32_t length,
                             int32_t *boundaries, int32_t *statuses, int32_t capacity, int32_t *error);

/// Unicode NFC normalization. Returns the length of the result; if it exceeds `capacity`, nothing useful is
/// written and `error` is ICU's U_BUFFER_OVERFLOW_ERROR, so call again with a larger buffer.
int32_t cicu_normalize_nfc(const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity,
                           int32_t *error);

/// Locale-independent (root locale) full lowercase mapping, with the same length protocol as `cicu_normalize_nfc`.
int32_t cicu_to_lower(const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity,
                      int32_t *error);

/// The columns a terminal gives one code point: 2 for East Asian Wide and Fullwidth characters (CJK ideographs,
/// kana, Hangul syllables, fullwidth forms, most emoji), 0 for combining and enclosing marks, format characters
/// (zero-width joiner, zero-width space, …), control characters and Hangul jamo vowels and final consonants, 1 for the rest (East Asian
/// Ambiguous characters included, as terminals outside CJK locales show them).
int32_t cicu_column_width(int32_t code_point);

/// ICU's name for an error code, e.g. "U_BUFFER_OVERFLOW_ERROR".
const char *cicu_error_name(int32_t error);

/// The ICU version string, e.g. "72.1".
void cicu_version(char *buffer, int32_t capacity);

#ifdef __cplusplus
}
#endif

#endif
