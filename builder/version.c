/* The version, the commit, and the libraries whose versions decide the bytes of layers and JSON. */
#include <archive.h>
#include <curl/curl.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <yaml.h>
#include <zlib.h>
#include <zstd.h>

#include "builder/bld.h"
#include "builder/cli.h"
#include "builder/exit.h"
#include "cubuild_commit.h"

const char *bld_version(void)
{
        return CUBUILD_VERSION;
}

const char *bld_commit(void)
{
        return CUBUILD_COMMIT;
}

void bld_print_version(FILE *f)
{
        (void) fprintf(f, "cubuild version %s (commit %s)\n", CUBUILD_VERSION, CUBUILD_COMMIT);
        (void) fprintf(f, "  %s\n", archive_version_string());
        (void) fprintf(f, "  libcurl %s\n", curl_version_info(CURLVERSION_NOW)->version);
        (void) fprintf(f, "  %s\n", OpenSSL_version(OPENSSL_VERSION));
        (void) fprintf(f, "  zstd %s\n", ZSTD_versionString());
        (void) fprintf(f, "  zlib %s\n", zlibVersion());
        (void) fprintf(f, "  libyaml %s\n", yaml_get_version_string());
        (void) fprintf(f, "  jansson %s\n", jansson_version_str());
}
