#include "live/connection.h"

#include <boost/json.hpp>

namespace beta500::live {
namespace json = boost::json;

std::shared_ptr<LiveConnection> LiveConnection::ForUser(Manager& manager, DubbingEngine& engine,
                                                        int64_t user_id, StreamOptions options) {
    auto connection = std::make_shared<LiveConnection>(manager, engine);
    connection->user_id_ = user_id;
    connection->options_ = std::move(options);
    return connection;
}

std::shared_ptr<LiveConnection> LiveConnection::Refused(Manager& manager, DubbingEngine& engine,
                                                        uint16_t code, std::string reason) {
    auto connection = std::make_shared<LiveConnection>(manager, engine);
    connection->refusal_.emplace(code, std::move(reason));
    return connection;
}

void LiveConnection::OnOpen(std::shared_ptr<http::Channel> channel) {
    if (refusal_) {
        channel->Close(refusal_->first, refusal_->second);
        return;
    }
    // The stream first: an engine at its limit refuses before any credit is held. Its output
    // never outlives it (the stream is destroyed in OnClose, or first in the destructor), so
    // `this` is valid whenever it emits, and the emitting thread never owns the connection.
    dubbing_ = engine_.Open(options_, [this](DubbingOutput output) { Emit(std::move(output)); });
    if (!dubbing_) {
        channel->Close(http::kCloseTryAgainLater, "dubbing capacity reached; try again later");
        return;
    }
    {
        std::lock_guard lock(mutex_);
        channel_ = channel;
    }
    manager_.Start(user_id_, channel, [weak = weak_from_this(), &manager = manager_](std::shared_ptr<Session> session) {
        auto self = weak.lock();
        bool closed = true;
        if (self) {
            std::lock_guard lock(self->mutex_);
            closed = self->closed_;
            if (!closed) {
                self->session_ = session;
            }
        }
        if (closed) {
            manager.End(session, EndReason::kConnectionLost, http::kCloseAbnormal);
        }
    }, Details());
}

json::object LiveConnection::Details() const {
    auto format = [](int rate) {
        return json::object{{"encoding", "pcm_s16le"}, {"channels", 1}, {"sample_rate", rate}};
    };
    json::object dubbing{{"engine", engine_.name()},
                         {"source", options_.source},
                         {"target", options_.target},
                         {"input", options_.speech ? "speech" : "text"},
                         {"audio_out", format(options_.output_rate)}};
    if (options_.speech) {
        dubbing["audio_in"] = format(16000);
    }
    return json::object{{"dubbing", std::move(dubbing)}};
}

void LiveConnection::Error(const std::string& code, const std::string& detail) {
    std::lock_guard lock(mutex_);
    if (channel_ && !closed_) {
        channel_->Send(json::serialize(json::object{{"type", "error"}, {"code", code}, {"detail", detail}}));
    }
}

void LiveConnection::Emit(DubbingOutput output) {
    if (output.kind == DubbingOutput::Kind::kError) {
        Error(output.data, output.detail);
        return;
    }
    std::lock_guard lock(mutex_);
    if (!channel_ || closed_) {
        return;
    }
    switch (output.kind) {
        case DubbingOutput::Kind::kAudio:
            channel_->Send(std::move(output.data), true);
            break;
        case DubbingOutput::Kind::kPartialTranscript:
        case DubbingOutput::Kind::kTranscript:
            channel_->Send(json::serialize(json::object{
                {"type", "transcript"}, {"text", output.data}, {"final", output.kind == DubbingOutput::Kind::kTranscript}}));
            break;
        case DubbingOutput::Kind::kTranslation:
            channel_->Send(json::serialize(json::object{{"type", "translation"}, {"text", output.data}}));
            break;
        case DubbingOutput::Kind::kError:
            break;
    }
}

void LiveConnection::OnMessage(std::string data, bool binary) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(mutex_);
        session = session_;
    }
    if (!session || session->ending) {
        Error("not_started", "the session has not started yet, or has ended");
        return;
    }
    if (binary) {
        if (!options_.speech) {
            Error("speech_unavailable", "this session takes text only (input=text)");
            return;
        }
        if (data.size() % 2 != 0) {
            Error("invalid_audio", "audio is PCM16LE mono 16 kHz: an even number of bytes");
            return;
        }
        dubbing_->Audio(data);
        return;
    }
    boost::system::error_code error;
    const json::value message = json::parse(data, error);
    const json::object* object = error ? nullptr : message.if_object();
    const json::string* type =
        object && object->contains("type") ? object->at("type").if_string() : nullptr;
    if (type == nullptr) {
        Error("invalid_message", "a text message is a JSON object with a \"type\"");
        return;
    }
    if (*type == "stop") {
        manager_.End(session, EndReason::kUserStopped, http::kCloseNormal);
    } else if (*type == "text") {
        const json::string* text = object->contains("text") ? object->at("text").if_string() : nullptr;
        if (text == nullptr || text->empty()) {
            Error("invalid_message", "a text message needs a non-empty \"text\"");
            return;
        }
        if (text->size() > kTextBytesMax) {
            Error("text_too_long", "a text message holds at most " + std::to_string(kTextBytesMax) + " bytes of text");
            return;
        }
        dubbing_->Text(*text);
    } else {
        Error("invalid_message", "unknown message type");
    }
}

void LiveConnection::OnClose(uint16_t code) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(mutex_);
        closed_ = true;
        session = session_;
    }
    // Destroyed here, outside mutex_: its worker may be waiting for mutex_ to emit.
    dubbing_.reset();
    if (session) {
        // A close frame from the client is a stop; limits broken are errors; silence is a loss.
        EndReason reason = EndReason::kConnectionLost;
        if (code == http::kCloseNormal || code == http::kCloseGoingAway) {
            reason = EndReason::kUserStopped;
        } else if (code == http::kClosePolicy || code == http::kCloseTooBig) {
            reason = EndReason::kError;
        }
        manager_.End(session, reason, code);
    }
}

void BalanceStream::OnOpen(std::shared_ptr<http::Channel> channel) {
    channel->Send(http::SseEvent("credits.balance", initial_));
    const int64_t id = bus_.Subscribe(user_id_, [channel](std::string_view name, const std::string& data) {
        channel->Send(http::SseEvent(name, data));
    });
    std::lock_guard lock(mutex_);
    subscription_ = id;
}

void BalanceStream::OnClose(uint16_t) {
    std::lock_guard lock(mutex_);
    bus_.Unsubscribe(user_id_, subscription_);
}

}  // namespace beta500::live
