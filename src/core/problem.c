/*
 * problem: RFC 9457 problem details rendered with jsonw (see problem.h).
 */
#include "core/problem.h"

#include "core/jsonw.h"

#define VALIDATION_TYPE "https://strata.dev/problems/validation"

const char *problem_title(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 406: return "Not Acceptable";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 422: return "Unprocessable Content";
    case 425: return "Too Early";
    case 426: return "Upgrade Required";
    case 428: return "Precondition Required";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 451: return "Unavailable For Legal Reasons";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
    }
}

void problem_render(struct buf *out, int status, const char *detail,
                    const struct problem_field *fields, size_t nfields, const char *request_id)
{
    struct jsonw w;
    bool validation = (status == 400 || status == 422) && fields && nfields > 0;

    jsonw_init(&w, out);
    jsonw_obj_begin(&w);
    jsonw_kv_str(&w, "type", validation ? VALIDATION_TYPE : "about:blank");
    jsonw_kv_str(&w, "title", problem_title(status));
    jsonw_kv_int(&w, "status", status);
    if (detail)
        jsonw_kv_str(&w, "detail", detail);
    if (fields && nfields > 0) {
        jsonw_key(&w, "errors");
        jsonw_arr_begin(&w);
        for (size_t i = 0; i < nfields; i++) {
            jsonw_obj_begin(&w);
            jsonw_kv_str(&w, "field", fields[i].field);
            jsonw_kv_str(&w, "message", fields[i].message);
            jsonw_obj_end(&w);
        }
        jsonw_arr_end(&w);
    }
    if (request_id)
        jsonw_kv_str(&w, "request_id", request_id);
    jsonw_obj_end(&w);
}
