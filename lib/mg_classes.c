/* mg_classes.c — the built-in media classes (docs/policy.md, "Built-in media
 * classes"). The loader puts them first in policy->classes so that their
 * indexes are the fixed MG_CLASS_* constants. */
#include <string.h>

#include <apr_strings.h>

#include "mg_policy.h"

/* Each extension is in exactly one of image, video and audio, so `media`
 * (their union) is a concatenation; stream lists the files of an HLS/DASH
 * presentation and is a subset of video and audio. Subtitles (vtt, webvtt,
 * srt) are part of a video presentation. HLS key files have arbitrary names
 * (key.bin, enc.key) and cannot be classed: docs/policy.md shows the rule
 * shape that covers them. */
static const char *const image_exts[] = {
    "jpg", "jpeg", "jpe",  "jif",  "jfif", "jfi",  "png", "gif",  "webp", "tiff", "tif",
    "psd", "raw",  "arw",  "cr2",  "nrw",  "k25",  "dng", "nef",  "orf",  "rw2",  "bmp",
    "dib", "heif", "heic", "ind",  "indd", "indt", "jp2", "j2k",  "jpf",  "jpx",  "jpm",
    "mj2", "jxl",  "svg",  "svgz", "ai",   "eps",  "pdf", "avif", "ico",  NULL};
static const char *const video_exts[] = {"mp4", "mov",  "wmv",  "avi",    "avchd", "flv",  "f4v",
                                         "swf", "mkv",  "webm", "m4v",    "mpg",   "mpeg", "3gp",
                                         "3g2", "ogv",  "m2ts", "mts",    "m3u8",  "ts",   "m4s",
                                         "mpd", "cmfv", "vtt",  "webvtt", "srt",   NULL};
static const char *const audio_exts[] = {"aac", "mp3",  "m4a", "wav", "flac", "ogg",
                                         "oga", "opus", "ac3", "ec3", "cmfa", NULL};
static const char *const stream_exts[] = {"m3u8", "ts",  "m4s", "mpd",    "cmfv",
                                          "cmfa", "aac", "vtt", "webvtt", NULL};

static const char *const builtin_names[MG_N_BUILTIN_CLASSES] = {"image", "video", "stream", "media",
                                                                "audio"};

static void push_exts(apr_array_header_t *exts, const char *const *list)
{
    for (; *list; list++)
        *(const char **)apr_array_push(exts) = *list;
}

void mg_classes_add_builtin(apr_pool_t *pool, apr_array_header_t *classes)
{
    /* in MG_CLASS_* order; NULL marks media, the union */
    const char *const *lists[MG_N_BUILTIN_CLASSES] = {image_exts, video_exts, stream_exts, NULL,
                                                      audio_exts};
    for (int i = 0; i < MG_N_BUILTIN_CLASSES; i++) {
        mg_class_t *c = apr_array_push(classes);
        memset(c, 0, sizeof(*c));
        c->name = builtin_names[i];
        c->builtin = 1;
        c->exts = apr_array_make(pool, 64, sizeof(const char *));
        if (lists[i] != NULL) {
            push_exts(c->exts, lists[i]);
        } else {
            /* image, video and audio share no extension: the union is a concatenation */
            push_exts(c->exts, image_exts);
            push_exts(c->exts, video_exts);
            push_exts(c->exts, audio_exts);
        }
    }
}

int mg_class_builtin_index(const char *name)
{
    for (int i = 0; i < MG_N_BUILTIN_CLASSES; i++)
        if (strcmp(name, builtin_names[i]) == 0)
            return i;
    return -1;
}
