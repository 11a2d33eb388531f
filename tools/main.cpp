// kiln: one command-line tool, one file per subcommand.
#include <cstdio>
#include <exception>
#include <new>

#include "commands.h"
#include "core/error.h"

int main(int argc, char** argv) {
    CLI::App app{"kiln: CPU-first LLM inference", "kiln"};
    app.set_version_flag("--version", std::string("kiln ") + KILN_VERSION);
    app.require_subcommand(1);
    kiln::cli::add_run_command(app);
    kiln::cli::add_convert_command(app);
    kiln::cli::add_info_command(app);
    kiln::cli::add_quantize_command(app);
    kiln::cli::add_perplexity_command(app);
    kiln::cli::add_bench_command(app);
    kiln::cli::add_synth_command(app);
    kiln::cli::add_tokenize_command(app);
    kiln::cli::add_chat_command(app);
    kiln::cli::add_export_command(app);
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        // one line, like every other kiln error
        std::fprintf(stderr, "kiln: error: %s (see kiln --help)\n", e.what());
        return 2;
    } catch (const kiln::error& e) {
        std::fprintf(stderr, "kiln: error: %s\n", e.what());
        return 1;
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "kiln: error: out of memory\n");
        return 1;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "kiln: error: %s\n", e.what());
        return 1;
    }
    return 0;
}
