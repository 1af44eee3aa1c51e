#include "core/password.h"

#include <ctype.h>
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "core/config.h"

static int64_t opslimit, memlimit;

static const struct config_setting password_settings[] = {
    {"password_opslimit", CFG_INT, "2", &opslimit, 0, 1, 20, NULL,
     "Argon2id passes (libsodium opslimit) for new password hashes"},
    {"password_memlimit", CFG_SIZE, "64MiB", &memlimit, 0, 8 * 1024, 4LL * 1024 * 1024 * 1024, NULL,
     "Argon2id memory for new password hashes"},
    {NULL, 0, NULL, NULL, 0, 0, 0, NULL, NULL},
};

void password_register_config(void)
{
    config_register(password_settings);
}

int password_hash(const char *password, char out[PASSWORD_HASH_MAX])
{
    if (sodium_init() < 0)
        return STRATA_EIO;
    if (crypto_pwhash_str_alg(out, password, strlen(password), (unsigned long long)opslimit, (size_t)memlimit,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return STRATA_EIO; /* out of memory for the configured memlimit */
    return 0;
}

bool password_verify(const char *hash, const char *password)
{
    if (sodium_init() < 0 || !hash)
        return false;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

static char dummy[PASSWORD_HASH_MAX];
static pthread_once_t dummy_once = PTHREAD_ONCE_INIT;

static void make_dummy(void)
{
    char pw[33];
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    sodium_bin2hex(pw, sizeof pw, rnd, sizeof rnd);
    if (password_hash(pw, dummy) < 0)
        dummy[0] = '\0';
}

const char *password_dummy_hash(void)
{
    pthread_once(&dummy_once, make_dummy);
    return dummy;
}

const char *password_weakness(const char *password, const char *username)
{
    size_t n = strlen(password);
    if (n < 12)
        return "must be at least 12 characters";
    if (n > 256)
        return "must be at most 256 bytes";
    bool lower = false, upper = false, digit = false, other = false;
    for (const char *p = password; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            return "must not contain control characters";
        lower |= islower(c) != 0;
        upper |= isupper(c) != 0;
        digit |= isdigit(c) != 0;
        other |= !isalnum(c);
    }
    if (lower + upper + digit + other < 3 && n < 20)
        return "needs three of: lower case, upper case, digits, symbols (or 20+ characters)";
    if (username && *username && strcasestr(password, username))
        return "must not contain the username";
    return NULL;
}
