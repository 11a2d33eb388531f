// A small line editor for the chat prompt on a terminal: cursor movement,
// deletion, kill/yank-free emacs keys, and history (kept in a file). It puts
// the terminal in raw mode only while a line is being read, so Ctrl-C during
// generation still raises SIGINT.
#pragma once

#include <string>
#include <vector>

namespace kiln {

class line_editor {
public:
    enum class status { line, eof, interrupt };

    // history_path "" = no history file.
    explicit line_editor(std::string history_path);

    // Reads one line from the terminal (stdin must be a TTY).
    status read(const std::string& prompt, std::string& line);
    void add_history(const std::string& line);

    // $XDG_STATE_HOME/kiln/history (or ~/.local/state/kiln/history); creates the directory.
    static std::string default_history_path();

private:
    std::string path_;
    std::vector<std::string> history_;
    void save_entry(const std::string& line);
};

}  // namespace kiln
