#include "CICU.h"

#include <pthread.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/uversion.h>

// The word break iterator is opened once (loading rules and dictionaries is the expensive part) and cloned per
// call; cloning a shared template is thread-safe, so the Swift side stays stateless and Sendable.
static UBreakIterator *word_template = NULL;
static UErrorCode word_template_error = U_ZERO_ERROR;
static pthread_once_t word_template_once = PTHREAD_ONCE_INIT;

static void open_word_template(void) {
    word_template = ubrk_open(UBRK_WORD, "", NULL, 0, &word_template_error);
}

int32_t cicu_word_boundaries(const uint16_t *text, int32_t length,
                             int32_t *boundaries, int32_t *statuses, int32_t capacity, int32_t *error) {
    UErrorCode status = U_ZERO_ERROR;
    pthread_once(&word_template_once, open_word_template);
    if (U_FAILURE(word_template_error)) {
        *error = word_template_error;
        return 0;
    }
    UBreakIterator *iterator = ubrk_clone(word_template, &status);
    if (U_FAILURE(status)) {
        *error = status;
        return 0;
    }
    ubrk_setText(iterator, (const UChar *)text, length, &status);
    if (U_FAILURE(status)) {
        ubrk_close(iterator);
        *error = status;
        return 0;
    }
    int32_t count = 0;
    for (int32_t b = ubrk_first(iterator); b != UBRK_DONE && count < capacity; b = ubrk_next(iterator)) {
        boundaries[count] = b;
        if (statuses) statuses[count] = ubrk_getRuleStatus(iterator);
        count += 1;
    }
    ubrk_close(iterator);
    *error = U_ZERO_ERROR;
    return count;
}

int32_t cicu_normalize_nfc(const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity,
                           int32_t *error) {
    UErrorCode status = U_ZERO_ERROR;
    const UNormalizer2 *nfc = unorm2_getNFCInstance(&status);
    if (U_FAILURE(status)) {
        *error = status;
        return 0;
    }
    int32_t result = unorm2_normalize(nfc, (const UChar *)source, length, (UChar *)destination, capacity, &status);
    *error = status;
    return result;
}

int32_t cicu_to_lower(const uint16_t *source, int32_t length, uint16_t *destination, int32_t capacity,
                      int32_t *error) {
    UErrorCode status = U_ZERO_ERROR;
    int32_t result = u_strToLower((UChar *)destination, capacity, (const UChar *)source, length, "", &status);
    *error = status;
    return result;
}

int32_t cicu_column_width(int32_t code_point) {
    UChar32 c = (UChar32)code_point;
    switch (u_charType(c)) {
    case U_NON_SPACING_MARK:
    case U_ENCLOSING_MARK:
    case U_FORMAT_CHAR:
    case U_CONTROL_CHAR:
        return 0;
    default:
        break;
    }
    // Conjoining jamo after the leading consonant compose into the syllable's two columns.
    int32_t jamo = u_getIntPropertyValue(c, UCHAR_HANGUL_SYLLABLE_TYPE);
    if (jamo == U_HST_VOWEL_JAMO || jamo == U_HST_TRAILING_JAMO) return 0;
    int32_t width = u_getIntPropertyValue(c, UCHAR_EAST_ASIAN_WIDTH);
    return width == U_EA_WIDE || width == U_EA_FULLWIDTH ? 2 : 1;
}

const char *cicu_error_name(int32_t error) {
    return u_errorName((UErrorCode)error);
}

void cicu_version(char *buffer, int32_t capacity) {
    UVersionInfo version;
    u_getVersion(version);
    if (capacity >= U_MAX_VERSION_STRING_LENGTH) {
        u_versionToString(version, buffer);
    } else if (capacity > 0) {
        buffer[0] = 0;
    }
}
