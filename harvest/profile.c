/*
 * profile: extraction profiles as data. A profile maps each record field
 * to a post-step and an XPath, written as one line of text ("title = text
 * //h1"), the syntax of docs/profiles.md; the built-in "wilson" profile
 * is such a table fed through the same parser as [profile NAME] sections
 * of the configuration. Owns the profiles and their compiled XPath
 * expressions (compiled once, here, and only evaluated in extract_*.c).
 * Never parses pages and never logs: every problem is an error message
 * for the caller.
 */
#include "profile_internal.h"

#include "text.h"
#include "xmalloc.h"

#include <ctype.h>
#include <errno.h>
#include <libxml/HTMLtree.h>
#include <libxml/xmlerror.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A spec longer than this is refused; real ones are a few hundred bytes. */
#define PROFILE_SPEC_MAX 4096
/* Operation budget when an XPath is tried on an empty page. */
#define PROFILE_TRIAL_OPS 100000

#define F(name, kind)                                                                              \
    {                                                                                              \
#name, kind, offsetof(struct record, name)                                                 \
    }
const struct profile_field_def profile_fields[PROFILE_NFIELDS] = {
    [PROFILE_F_RECORD_ID] = F(record_id, PROFILE_SCALAR),
    [PROFILE_F_TITLE] = F(title, PROFILE_SCALAR),
    [PROFILE_F_DATE] = F(date, PROFILE_SCALAR),
    [PROFILE_F_SUMMARY] = F(summary, PROFILE_SCALAR),
    [PROFILE_F_TYPE] = F(type, PROFILE_SCALAR),
    [PROFILE_F_LANGUAGES] = F(languages, PROFILE_LIST),
    [PROFILE_F_ORIGINAL_ARCHIVES] = F(original_archives, PROFILE_LIST),
    [PROFILE_F_CLASSIFICATION] = F(classification, PROFILE_SCALAR),
    [PROFILE_F_UPLOADED] = F(uploaded, PROFILE_SCALAR),
    [PROFILE_F_FUNDERS] = F(funders, PROFILE_LIST),
    [PROFILE_F_SUBJECTS] = F(subjects, PROFILE_LIST),
    [PROFILE_F_PEOPLE] = F(people, PROFILE_LIST),
    [PROFILE_F_PLACES] = F(places, PROFILE_LIST),
    [PROFILE_F_SOURCE] = F(source, PROFILE_SCALAR),
    [PROFILE_F_TEXT] = F(text, PROFILE_SCALAR),
};
#undef F

static const char *const profile_option_names[PROFILE_NOPTIONS] = {
    [PROFILE_O_BLOCKS] = "blocks",           [PROFILE_O_BLOCK_LABEL] = "block-label",
    [PROFILE_O_BLOCK_VALUE] = "block-value", [PROFILE_O_BLOCK_PILL] = "block-pill",
    [PROFILE_O_HEADINGS] = "headings",
};

static const struct {
    const char *word;
    enum profile_step step;
} profile_steps[] = {
    {"text", PROFILE_STEP_TEXT},   {"attr", PROFILE_STEP_ATTR},       {"pills", PROFILE_STEP_PILLS},
    {"block", PROFILE_STEP_BLOCK}, {"section", PROFILE_STEP_SECTION}, {"after", PROFILE_STEP_AFTER},
};

/* Whole-word class test, the only safe way to match one class of many;
 * "@class and" first skips elements without a class at a third of the
 * cost. */
#define CLS(c) "(@class and contains(concat(' ', normalize-space(@class), ' '), ' " c " '))"
#define PILL_NAME                                                                                  \
    "//*[" CLS("pill") " or " CLS("pill-subject") "][not(ancestor::footer)]//*[" CLS("name") "]"
#define BEFORE_SECTIONS "[not(ancestor::footer)][not(preceding::h2[" CLS("title") "])]"

/* The Wilson Center Digital Archive's record pages (PROVENANCE.md §1). */
static const char *const profile_wilson[][2] = {
    {"headings", "//h2[" CLS("title") "][not(ancestor::footer)]"},
    {"blocks", "//*[" CLS("information-block") "][not(ancestor::footer)]"},
    {"block-label", "//*[" CLS("sub-title") "]"},
    {"block-value", "//*[" CLS("text") "]"},
    {"block-pill",
     "//*[" CLS("pill") "] | //*[" CLS("text") "]//a[not(ancestor::*[" CLS("pill") "])]"},
    {"record_id", "block \"Record ID\""},
    {"title", "text //h1[" CLS("title") "]"},
    {"date", "text //*[" CLS("date") "]" BEFORE_SECTIONS},
    {"summary", "text //*[" CLS("text-block") "]" BEFORE_SECTIONS},
    {"type", "block \"Type\""},
    {"languages", "block \"Language\""},
    {"original_archives", "block \"Original Archive\""},
    {"classification", "block \"Original Classification\""},
    {"uploaded", "block \"Original Uploaded Date\""},
    {"funders", "after \"made possible with support from\" //*[" CLS("donated") "]"},
    {"subjects", "section \"Subjects Discussed\" " PILL_NAME},
    {"people", "section \"Associated People & Organizations\" " PILL_NAME},
    {"places", "section \"Associated Places\" " PILL_NAME},
    {"source", "block \"Source\" first-before \"Rights\""},
    {"text",
     "text //*[@id='documentTabs']//*[" CLS("tab-pane") "][" CLS("active") " or (not(../*[" CLS(
         "tab-pane") "][" CLS("active") "]) and (@id='text' or @id='translation'))]"},
};

static void profile_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void profile_err(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err == NULL || errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

struct profile *profile_new(const char *name)
{
    struct profile *p = xcalloc(1, sizeof(*p));

    /* XPaths are compiled and tried here, maybe before main() set up
     * libxml2: make sure its errors are silent (this is idempotent) */
    extract_global_init();

    p->name = xstrdup(name);
    for (size_t i = 0; i < PROFILE_NFIELDS; i++)
        p->rules[i].xpath = -1;
    for (size_t i = 0; i < PROFILE_NOPTIONS; i++)
        p->options[i] = -1;
    return p;
}

static void profile_rule_clear(struct profile_rule *r)
{
    free(r->arg);
    free(r->key);
    free(r->fallback);
    memset(r, 0, sizeof(*r));
    r->xpath = -1;
}

void profile_free(struct profile *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < PROFILE_NFIELDS; i++)
        profile_rule_clear(&p->rules[i]);
    for (size_t i = 0; i < p->n_xpaths; i++) {
        free(p->xpaths[i].expr);
        xmlXPathFreeCompExpr(p->xpaths[i].comp);
    }
    free(p->xpaths);
    strlist_clear(&p->markers);
    free(p->name);
    free(p);
}

const char *profile_name(const struct profile *p)
{
    return p->name;
}

size_t profile_xpath_count(const struct profile *p)
{
    return p->n_xpaths;
}

const struct profile_xpath *profile_xpath_at(const struct profile *p, size_t i)
{
    return i < p->n_xpaths ? &p->xpaths[i] : NULL;
}

char *profile_label_key(const char *s)
{
    char *squashed = text_squash_ws(s);
    char *key = text_fold(squashed);
    size_t n = strlen(key);

    free(squashed);
    while (n > 0 && (key[n - 1] == ':' || key[n - 1] == ' '))
        key[--n] = '\0';
    return key;
}

const char *profile_xpath_strerror(int code)
{
    switch (code - XML_XPATH_EXPRESSION_OK) {
    case XPATH_NUMBER_ERROR:
        return "bad number";
    case XPATH_UNFINISHED_LITERAL_ERROR:
        return "unfinished quoted string";
    case XPATH_START_LITERAL_ERROR:
        return "expected a quoted string";
    case XPATH_VARIABLE_REF_ERROR:
    case XPATH_UNDEF_VARIABLE_ERROR:
    case XPATH_FORBID_VARIABLE_ERROR:
        return "variables are not allowed";
    case XPATH_INVALID_PREDICATE_ERROR:
        return "invalid predicate";
    case XPATH_EXPR_ERROR:
        return "invalid expression";
    case XPATH_UNCLOSED_ERROR:
        return "missing closing bracket";
    case XPATH_UNKNOWN_FUNC_ERROR:
        return "unknown function";
    case XPATH_INVALID_OPERAND:
        return "invalid operand";
    case XPATH_INVALID_TYPE:
        return "wrong type of value";
    case XPATH_INVALID_ARITY:
        return "wrong number of arguments";
    case XPATH_MEMORY_ERROR:
        return "out of memory";
    case XPATH_UNDEF_PREFIX_ERROR:
        return "undefined namespace prefix";
    case XPATH_INVALID_CHAR_ERROR:
    case XPATH_ENCODING_ERROR:
        return "invalid character";
    case XPATH_STACK_ERROR:
    case XPATH_RECURSION_LIMIT_EXCEEDED:
        return "expression nested too deeply";
    case XPATH_OP_LIMIT_EXCEEDED:
        return "over the cost limit";
    default:
        return "XPath error";
    }
}

/* XPath errors are read from the context's lastError, not printed. */
static void profile_xpath_error(void *data, xmlErrorPtr e)
{
    (void)data;
    (void)e;
}

/* Compile expr, try it on an empty page (which catches unknown functions,
 * which compile but cannot run), and return its index in p->xpaths; an
 * expression already there is shared. -EINVAL with a message otherwise. */
static int profile_xpath_add(struct profile *p, const char *expr, char *err, size_t errlen)
{
    xmlXPathContextPtr xp = NULL;
    xmlXPathCompExprPtr comp = NULL;
    xmlXPathObjectPtr res = NULL;
    xmlDocPtr doc = NULL;
    int rc = -EINVAL;

    for (size_t i = 0; i < p->n_xpaths; i++)
        if (strcmp(p->xpaths[i].expr, expr) == 0)
            return (int)i;
    doc = htmlNewDocNoDtD(NULL, NULL);
    xp = xmlXPathNewContext(doc);
    if (doc == NULL || xp == NULL) {
        profile_err(err, errlen, "out of memory compiling an XPath");
        goto out;
    }
    xp->error = profile_xpath_error;
    xp->flags = XML_XPATH_NOVAR;
    comp = xmlXPathCtxtCompile(xp, (const xmlChar *)expr);
    if (comp == NULL) {
        profile_err(err, errlen, "XPath does not compile (%s): %s",
                    profile_xpath_strerror(xp->lastError.code), expr);
        goto out;
    }
    xp->node = (xmlNodePtr)doc;
    xp->opLimit = PROFILE_TRIAL_OPS;
    xp->opCount = 0;
    res = xmlXPathCompiledEval(comp, xp);
    if (res == NULL) {
        profile_err(err, errlen, "XPath cannot run (%s): %s",
                    profile_xpath_strerror(xp->lastError.code), expr);
        goto out;
    }
    if (p->n_xpaths == p->cap_xpaths) {
        p->cap_xpaths = p->cap_xpaths ? p->cap_xpaths * 2 : 16;
        p->xpaths = xreallocarray(p->xpaths, p->cap_xpaths, sizeof(*p->xpaths));
    }
    p->xpaths[p->n_xpaths].expr = xstrdup(expr);
    p->xpaths[p->n_xpaths].comp = comp;
    comp = NULL;
    rc = (int)p->n_xpaths++;
out:
    xmlXPathFreeObject(res);
    xmlXPathFreeCompExpr(comp);
    xmlXPathFreeContext(xp);
    xmlFreeDoc(doc);
    return rc;
}

static const char *profile_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* Read a double-quoted string at *s (\" and \\ are the escapes) into a new
 * string and move *s past it. */
static int profile_quoted(const char **s, char **out, const char *what, char *err, size_t errlen)
{
    const char *p = profile_skip_ws(*s);
    char *buf, *o;

    if (*p != '"') {
        profile_err(err, errlen, "expected a quoted %s", what);
        return -EINVAL;
    }
    buf = o = xmalloc(strlen(p));
    for (p++; *p != '"'; p++) {
        if (*p == '\0') {
            free(buf);
            profile_err(err, errlen, "unterminated quoted %s", what);
            return -EINVAL;
        }
        if (*p == '\\' && (p[1] == '"' || p[1] == '\\'))
            p++;
        *o++ = *p;
    }
    *o = '\0';
    if (buf[0] == '\0') {
        free(buf);
        profile_err(err, errlen, "empty %s", what);
        return -EINVAL;
    }
    *s = p + 1;
    *out = buf;
    return 0;
}

/* The rest of the line as an XPath, trimmed; -EINVAL when empty. */
static int profile_tail_xpath(struct profile *p, const char *s, const char *after, char *err,
                              size_t errlen)
{
    char *expr;
    size_t n;
    int rc;

    s = profile_skip_ws(s);
    n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0) {
        profile_err(err, errlen, "missing XPath after %s", after);
        return -EINVAL;
    }
    expr = xstrndup(s, n);
    rc = profile_xpath_add(p, expr, err, errlen);
    free(expr);
    return rc;
}

static int profile_step_from_word(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(profile_steps) / sizeof(profile_steps[0]); i++)
        if (strlen(profile_steps[i].word) == n && strncmp(profile_steps[i].word, w, n) == 0)
            return (int)profile_steps[i].step;
    return -1;
}

/* Parse spec for field f into r (which the caller clears on failure). */
static int profile_parse_rule(struct profile *p, enum profile_field f, const char *spec,
                              struct profile_rule *r, char *err, size_t errlen)
{
    const struct profile_field_def *def = &profile_fields[f];
    const char *s = profile_skip_ws(spec), *w = s;
    char *label = NULL;
    int step, rc;

    while (isalpha((unsigned char)*s) || *s == '-')
        s++;
    step = profile_step_from_word(w, (size_t)(s - w));
    if (step < 0 || (*s != ' ' && *s != '\t' && *s != '\0')) {
        profile_err(err, errlen,
                    "unknown step \"%.*s\" (expected text, attr, pills, block, section or after)",
                    (int)(s - w > 40 ? 40 : s - w), w);
        return -EINVAL;
    }
    r->step = (enum profile_step)step;
    if (r->step == PROFILE_STEP_TEXT && def->kind == PROFILE_LIST) {
        profile_err(err, errlen, "\"%s\" is a list: use pills, block, section, after or attr",
                    def->name);
        return -EINVAL;
    }
    if (r->step == PROFILE_STEP_PILLS && def->kind == PROFILE_SCALAR) {
        profile_err(err, errlen, "\"%s\" holds one value: use text, block, section, after or attr",
                    def->name);
        return -EINVAL;
    }
    switch (r->step) {
    case PROFILE_STEP_TEXT:
    case PROFILE_STEP_PILLS:
        rc = profile_tail_xpath(p, s, w[0] == 't' ? "\"text\"" : "\"pills\"", err, errlen);
        break;
    case PROFILE_STEP_ATTR:
        s = profile_skip_ws(s);
        w = s;
        while (isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == ':' || *s == '.')
            s++;
        if (s == w) {
            profile_err(err, errlen, "expected an attribute name after \"attr\"");
            return -EINVAL;
        }
        r->arg = xstrndup(w, (size_t)(s - w));
        rc = profile_tail_xpath(p, s, "the attribute name", err, errlen);
        break;
    case PROFILE_STEP_SECTION:
    case PROFILE_STEP_AFTER:
        rc = profile_quoted(&s, &r->arg, r->step == PROFILE_STEP_AFTER ? "phrase" : "heading", err,
                            errlen);
        if (rc < 0)
            return rc;
        r->key = profile_label_key(r->arg);
        rc = profile_tail_xpath(p, s, r->step == PROFILE_STEP_AFTER ? "the phrase" : "the heading",
                                err, errlen);
        break;
    case PROFILE_STEP_BLOCK:
        rc = profile_quoted(&s, &r->arg, "label", err, errlen);
        if (rc < 0)
            return rc;
        r->key = profile_label_key(r->arg);
        s = profile_skip_ws(s);
        if (strncmp(s, "first-before", 12) == 0 &&
            (s[12] == ' ' || s[12] == '\t' || s[12] == '\0')) {
            s += 12;
            rc = profile_quoted(&s, &label, "label after first-before", err, errlen);
            if (rc < 0)
                return rc;
            r->fallback = profile_label_key(label);
            free(label);
            s = profile_skip_ws(s);
        }
        if (*s != '\0') {
            profile_err(err, errlen, "unexpected text after the block label: %.40s", s);
            return -EINVAL;
        }
        rc = -1; /* blocks use the profile's block options, no XPath of their own */
        break;
    default:
        return -EINVAL;
    }
    if (rc < -1)
        return rc;
    r->xpath = rc;
    return 0;
}

/* Copy key into buf with '_' turned into '-' (options) or the reverse
 * (fields), so both spellings are accepted. */
static void profile_norm_key(char *buf, size_t len, const char *key, char from, char to)
{
    size_t i;

    for (i = 0; key[i] != '\0' && i + 1 < len; i++)
        buf[i] = key[i] == from ? to : key[i];
    buf[i] = '\0';
}

int profile_set(struct profile *p, const char *field, const char *spec, char *err, size_t errlen)
{
    struct profile_rule r = {.xpath = -1};
    char key[64];
    int rc;

    if (p == NULL || field == NULL || spec == NULL) {
        profile_err(err, errlen, "missing field or spec");
        return -EINVAL;
    }
    if (strlen(spec) > PROFILE_SPEC_MAX || !text_utf8_valid(spec, strlen(spec))) {
        profile_err(err, errlen, "spec of \"%.40s\" is too long or not valid UTF-8", field);
        return -EINVAL;
    }
    profile_norm_key(key, sizeof(key), field, '_', '-');
    if (strcmp(key, "blocked-marker") == 0) {
        const char *s = profile_skip_ws(spec);
        char *marker = NULL;

        if (*s == '"') {
            rc = profile_quoted(&s, &marker, "marker", err, errlen);
            if (rc < 0)
                return rc;
        } else {
            marker = text_squash_ws(s);
        }
        if (marker[0] == '\0') {
            free(marker);
            profile_err(err, errlen, "empty blocked-marker");
            return -EINVAL;
        }
        for (char *c = marker; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        strlist_add_steal(&p->markers, marker);
        return 0;
    }
    for (int o = 0; o < PROFILE_NOPTIONS; o++) {
        if (strcmp(key, profile_option_names[o]) != 0)
            continue;
        rc = profile_tail_xpath(p, spec, key, err, errlen);
        if (rc < 0)
            return rc;
        p->options[o] = rc;
        return 0;
    }
    profile_norm_key(key, sizeof(key), field, '-', '_');
    for (int f = 0; f < PROFILE_NFIELDS; f++) {
        if (strcmp(key, profile_fields[f].name) != 0)
            continue;
        rc = profile_parse_rule(p, (enum profile_field)f, spec, &r, err, errlen);
        if (rc < 0) {
            profile_rule_clear(&r);
            return rc;
        }
        profile_rule_clear(&p->rules[f]);
        p->rules[f] = r;
        return 0;
    }
    profile_err(err, errlen, "unknown profile key \"%.40s\"", field);
    return -EINVAL;
}

int profile_check(const struct profile *p, char *err, size_t errlen)
{
    static const enum profile_option block_needs[] = {PROFILE_O_BLOCKS, PROFILE_O_BLOCK_LABEL,
                                                      PROFILE_O_BLOCK_VALUE};

    for (int f = 0; f < PROFILE_NREQUIRED; f++) {
        if (p->rules[f].step == PROFILE_STEP_NONE) {
            profile_err(err, errlen,
                        "profile %s: \"%s\" is not set (record_id and title are required)", p->name,
                        profile_fields[f].name);
            return -EINVAL;
        }
    }
    for (int f = 0; f < PROFILE_NFIELDS; f++) {
        const struct profile_rule *r = &p->rules[f];

        if (r->step == PROFILE_STEP_BLOCK) {
            for (size_t i = 0; i < sizeof(block_needs) / sizeof(block_needs[0]); i++) {
                if (p->options[block_needs[i]] < 0) {
                    profile_err(err, errlen, "profile %s: \"%s\" uses block but \"%s\" is not set",
                                p->name, profile_fields[f].name,
                                profile_option_names[block_needs[i]]);
                    return -EINVAL;
                }
            }
        }
        if (r->step == PROFILE_STEP_SECTION && p->options[PROFILE_O_HEADINGS] < 0) {
            profile_err(err, errlen, "profile %s: \"%s\" uses section but \"headings\" is not set",
                        p->name, profile_fields[f].name);
            return -EINVAL;
        }
    }
    return 0;
}

static struct profile *profile_from_table(const char *name, const char *const (*table)[2], size_t n)
{
    struct profile *p = profile_new(name);
    char err[256];

    for (size_t i = 0; i < n; i++) {
        if (profile_set(p, table[i][0], table[i][1], err, sizeof(err)) < 0) {
            profile_free(p);
            return NULL;
        }
    }
    if (profile_check(p, err, sizeof(err)) < 0) {
        profile_free(p);
        return NULL;
    }
    return p;
}

const struct profile *profile_builtin(const char *name)
{
    /* Built once on first use and kept for the life of the process;
     * extraction runs on one thread per process. */
    static struct profile *wilson;

    if (name == NULL || strcmp(name, "wilson") != 0)
        return NULL;
    if (wilson == NULL)
        wilson = profile_from_table("wilson", profile_wilson,
                                    sizeof(profile_wilson) / sizeof(profile_wilson[0]));
    return wilson;
}
