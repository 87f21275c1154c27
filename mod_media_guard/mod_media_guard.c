/* mod_media_guard.c — placeholder until the module lands. */
#include "httpd.h"
#include "http_config.h"
module AP_MODULE_DECLARE_DATA media_guard_module = { STANDARD20_MODULE_STUFF, NULL, NULL, NULL, NULL, NULL, NULL, 0 };
