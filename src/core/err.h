/*
 * err: the error codes every Strata function returns (0 on success, a negative value on
 * failure). Callers decide what an error means for the user; these codes carry no text.
 */
#ifndef STRATA_ERR_H
#define STRATA_ERR_H

#define STRATA_MUST_CHECK __attribute__((warn_unused_result))

enum strata_err {
    STRATA_OK = 0,
    STRATA_EINVAL = -1,   /* malformed input */
    STRATA_ERANGE = -2,   /* well-formed but out of range */
    STRATA_ETOOBIG = -3,  /* over a configured size limit */
    STRATA_ENOTFOUND = -4,
    STRATA_EIO = -5,      /* a system call or a peer failed */
    STRATA_EBUSY = -6,    /* a bounded queue is full */
    STRATA_EUNAVAIL = -7, /* a dependency is down */
    STRATA_EDUP = -8,     /* given twice where once is allowed */
};

#endif
