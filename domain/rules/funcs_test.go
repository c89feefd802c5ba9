package rules

import (
	"testing"
	"time"
)

func TestHasHouseNumber(t *testing.T) {
	tests := []struct {
		address string
		want    bool
	}{
		{"文三路90号", true},
		{"幸福小区5栋301", true},
		{"幸福小区3幢", true},
		{"1203室", true},
		{"万达广场B座", true},
		{"光明小区2单元", true},
		{"3楼", true},
		{"淮海路弄堂12弄", true},
		{"幸福小区3-2-501", true},
		{"幸福小区 3 - 2", true},
		{"幸福小区１２号", true}, // full-width digits
		{"幸福小区五号楼", true}, // Chinese numerals
		{"幸福小区十二栋二单元", true},
		{"菜市场后面", false},
		{"幸福小区", false},
		{"人民路与解放路路口", false},
		{"百货大楼旁边", false},
		{"SOHO现代城", false},
		{"", false},
		{"电话13800138000", false}, // digits alone are not a house number
	}
	for _, tc := range tests {
		if got := HasHouseNumber(tc.address); got != tc.want {
			t.Errorf("HasHouseNumber(%q) = %v, want %v", tc.address, got, tc.want)
		}
	}
}

func TestValidPhone(t *testing.T) {
	tests := []struct {
		phone string
		want  bool
	}{
		{"13800138000", true},
		{"19912345678", true},
		{" 138 0013 8000 ", true},
		{"+8613800138000", true},
		{"+86 138 0013 8000", true},
		{"008613800138000", true},
		{"8613800138000", true},
		{"13800138000-1234", true}, // privacy number with extension
		{"13800138000转1234", true},
		{"12800138000", false},
		{"10000000000", false},
		{"1380013800", false},
		{"138001380001", false},
		{"138-0013-8000", false},
		{"138****8000", false},
		{"0571-88886666", false},
		{"13800138000-", false},
		{"13800138000-1234567", false},
		{"１３８００１３８０００", false}, // full-width
		{"", false},
	}
	for _, tc := range tests {
		if got := ValidPhone(tc.phone); got != tc.want {
			t.Errorf("ValidPhone(%q) = %v, want %v", tc.phone, got, tc.want)
		}
	}
}

func TestIsRemote(t *testing.T) {
	for p, want := range map[string]bool{
		"新疆": true, "新疆维吾尔自治区": true, "西藏自治区": true, "青海省": true, "内蒙古自治区": true,
		"宁夏回族自治区": true, "甘肃省": true, "海南省": true, " 西藏 ": true,
		"浙江省": false, "内江": false, "": false, "北京": false,
	} {
		if got := IsRemote(p); got != want {
			t.Errorf("IsRemote(%q) = %v", p, got)
		}
	}
}

func TestFunctionsInExpressions(t *testing.T) {
	env := NewEnv(nil, twinOf(created()), Features{}, t0.Add(90*time.Minute))
	tests := []struct {
		x    string
		want bool
	}{
		{`containsAny("麻烦加急", ["加急", "尽快"])`, true},
		{`containsAny("谢谢", ["加急", "尽快"])`, false},
		{`containsAny("谢谢", [""])`, false},
		{`containsAny("谢谢", [])`, false},
		{`containsAny(order.receiver.address, map(order.items, .sku))`, false},
		{`hasHouseNumber(order.receiver.address)`, true},
		{`validPhone(order.receiver.phone)`, true},
		{`isRemote(order.receiver.province)`, false},
		{`minutes(now - twin.firstAt("order.created")) == 90`, true},
		{`minutes(duration("1h30m")) == 90`, true},
		{`now - twin.at.channel > duration("1h")`, true},
	}
	for _, tc := range tests {
		p, err := Compile(rule(tc.x))
		if err != nil {
			t.Errorf("%s: %v", tc.x, err)
			continue
		}
		if got, err := p.Eval(env); err != nil || got != tc.want {
			t.Errorf("%s = %v, %v; want %v", tc.x, got, err, tc.want)
		}
	}
}
