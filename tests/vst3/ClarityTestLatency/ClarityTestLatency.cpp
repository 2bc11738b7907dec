// ClarityTestLatency: pure delay of exactly kLatency (64) samples, reported to
// the host via setLatency(), followed by a static gain (`gain_db`, like
// ClarityTestGain). out[n] = in[n - 64] * 10^(gain_db / 20).
#include "DistrhoPlugin.hpp"

#include <cmath>
#include <cstring>

START_NAMESPACE_DISTRHO

static const uint32_t kLatency = 64;

class ClarityTestLatency : public Plugin
{
public:
    ClarityTestLatency() : Plugin(1, 0, 0), fGainDb(0.0f), fGain(1.0f), fPos(0)
    {
        setLatency(kLatency);
        clear();
    }

protected:
    const char* getLabel() const override { return "ClarityTestLatency"; }
    const char* getDescription() const override { return "clarity-fx test plugin: 64-sample delay"; }
    const char* getMaker() const override { return "clarity-fx"; }
    const char* getLicense() const override { return "ISC"; }
    uint32_t getVersion() const override { return d_version(1, 0, 0); }
    int64_t getUniqueId() const override { return d_cconst('C', 't', 'L', 't'); }

    void initParameter(uint32_t index, Parameter& p) override
    {
        if (index != 0) return;
        p.hints = kParameterIsAutomatable;
        p.name = "Gain";
        p.shortName = "Gain";
        p.symbol = "gain_db";
        p.unit = "dB";
        // 100 dB wide on purpose: pedalboard probes the normalised range in
        // 1000 steps and snaps values to that grid, so a width of 100 makes
        // every 0.1 dB value (e.g. -6.0) land exactly on it. With -60..+24
        // pedalboard would turn -6 into -5.988 dB.
        p.ranges.min = -76.0f;
        p.ranges.max = 24.0f;
        p.ranges.def = 0.0f;
    }

    float getParameterValue(uint32_t index) const override
    {
        return index == 0 ? fGainDb : 0.0f;
    }

    void setParameterValue(uint32_t index, float value) override
    {
        if (index != 0) return;
        // Quantise to 0.001 dB to drop float noise from the host's normalised
        // <-> plain conversion (so 0 dB is bit-exact and -6 dB is 10^(-6/20)).
        const double db = std::round(static_cast<double>(value) * 1000.0) / 1000.0;
        fGainDb = static_cast<float>(db);
        fGain = static_cast<float>(std::pow(10.0, db / 20.0));
    }

    void activate() override { clear(); }

    void run(const float** inputs, float** outputs, uint32_t frames) override
    {
        // inputs and outputs may alias: read each sample before writing it.
        const float g = fGain;
        uint32_t pos = fPos;
        for (uint32_t i = 0; i < frames; ++i)
        {
            for (uint32_t c = 0; c < 2; ++c)
            {
                const float x = inputs[c][i];
                outputs[c][i] = fRing[c][pos] * g;
                fRing[c][pos] = x;
            }
            pos = (pos + 1) % kLatency;
        }
        fPos = pos;
    }

private:
    void clear()
    {
        std::memset(fRing, 0, sizeof(fRing));
        fPos = 0;
    }

    float fGainDb;
    float fGain;
    float fRing[2][kLatency];
    uint32_t fPos;

    DISTRHO_DECLARE_NON_COPYABLE_WITH_LEAK_DETECTOR(ClarityTestLatency)
};

Plugin* createPlugin() { return new ClarityTestLatency(); }

END_NAMESPACE_DISTRHO
