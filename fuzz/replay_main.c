
/*
 * Replays inputs through a harness without libFuzzer, so that the seed
 * corpora (every crash the fuzzers ever found included) run with gcc in
 * `make test`: "replay_NAME FILE|DIR ..." calls LLVMFuzzerTestOneInput()
 * once per file; a crash or a sanitizer report fails it.
 */


#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static int replay_file(const char *path);


int
main(int argc, char **argv)
{
    int             i, n;
    char            path[4096];
    DIR            *dir;
    struct stat     st;
    struct dirent  *de;

    n = 0;

    for (i = 1; i < argc; i++) {
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }

        if (!S_ISDIR(st.st_mode)) {
            if (replay_file(argv[i]) != 0) {
                return 1;
            }

            n++;
            continue;
        }

        dir = opendir(argv[i]);
        if (dir == NULL) {
            perror(argv[i]);
            return 1;
        }

        while ((de = readdir(dir)) != NULL) {
            if (de->d_name[0] == '.') {
                continue;
            }

            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);

            if (replay_file(path) != 0) {
                closedir(dir);
                return 1;
            }

            n++;
        }

        closedir(dir);
    }

    printf("%s: %d inputs replayed\n", argv[0], n);

    return 0;
}


static int
replay_file(const char *path)
{
    long      len;
    FILE     *f;
    uint8_t  *data;

    f = fopen(path, "rb");
    if (f == NULL) {
        perror(path);
        return 1;
    }

    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0)
    {
        perror(path);
        fclose(f);
        return 1;
    }

    /* an exact-size copy: reads past the input are caught by ASan */
    data = malloc(len ? (size_t) len : 1);
    if (data == NULL || fread(data, 1, (size_t) len, f) != (size_t) len) {
        perror(path);
        free(data);
        fclose(f);
        return 1;
    }

    fclose(f);

    (void) LLVMFuzzerTestOneInput(data, (size_t) len);

    free(data);

    return 0;
}
