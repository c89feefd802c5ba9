package rules

import (
	"time"

	"github.com/towerhq/tower/domain/order"
)

// Defaults returns the default rule set, enabled, at version 1. The slice
// is new on every call: callers may edit it.
func Defaults() []Rule {
	kinds := func(ks ...order.Kind) []order.Kind { return ks }
	// Functions, not variables: no two rules share a slice.
	orderFacts := func() []order.Kind {
		return kinds(order.KindCreated, order.KindPaid, order.KindAddressChanged)
	}
	courierEnd := func() []order.Kind {
		return kinds(order.KindDelivered, order.KindDeliveryFailed, order.KindReturned)
	}

	rs := []Rule{
		{
			Name:        "vague_address",
			Description: "收货地址含“后面/附近/对面/旁边/路口”等模糊词，或没有门牌号：转客服核实地址。",
			Expression: `order.receiver.address != "" && (
  containsAny(order.receiver.address, ["后面", "附近", "对面", "旁边", "路口"])
  || !hasHouseNumber(order.receiver.address))`,
			On:      orderFacts(),
			Actions: Actions{Tags: []string{"地址模糊"}, Severity: SeverityWarning, Queue: QueueCustomerService, Alert: true, Kind: AlertSuspiciousAddress},
		},
		{
			Name:        "ip_burst",
			Description: "同一下单 IP 近 1 小时超过 5 单：疑似刷单或黄牛，转风控审核。",
			Expression:  `order.buyerIp != "" && features.ordersFromIp1h > 5`,
			On:          kinds(order.KindCreated, order.KindPaid),
			Actions:     Actions{Tags: []string{"同IP多单"}, Severity: SeverityWarning, Queue: QueueRiskReview, Alert: true, Kind: AlertIPBurst},
		},
		{
			Name:        "receiver_burst",
			Description: "同一收件电话或收件地址近 1 小时超过 5 单：疑似囤货或刷单，转风控审核。",
			Expression:  `features.ordersFromPhone1h > 5 || features.ordersFromAddress1h > 5`,
			On:          kinds(order.KindCreated, order.KindPaid),
			Actions:     Actions{Tags: []string{"同收件人多单"}, Severity: SeverityWarning, Queue: QueueRiskReview, Alert: true, Kind: AlertOrderBurst},
		},
		{
			Name:        "amount_outlier",
			Description: "订单金额超过该买家历史均值 3 倍（历史≥3 单），或超过店铺均值 3 倍（店铺历史≥20 单），或超过同一主商品订单均值 3 倍（历史≥20 单）：转风控审核。",
			Expression: `(features.buyerOrderCount >= 3 && features.buyerMeanAmount > 0 && order.amount > 3 * features.buyerMeanAmount)
|| (features.shopOrderCount >= 20 && features.shopMeanAmount > 0 && order.amount > 3 * features.shopMeanAmount)
|| (features.skuOrderCount >= 20 && features.skuMeanAmount > 0 && order.amount > 3 * features.skuMeanAmount)`,
			On:      kinds(order.KindCreated, order.KindPaid),
			Actions: Actions{Tags: []string{"金额异常"}, Severity: SeverityWarning, Queue: QueueRiskReview, Alert: true, Kind: AlertAmountOutlier},
		},
		{
			Name:        "phone_malformed",
			Description: "收件手机号不是有效的大陆手机号（平台脱敏/加密号码含 * # 时不判断）：转客服联系买家。",
			Expression:  `order.receiver.phone != "" && !containsAny(order.receiver.phone, ["*", "#"]) && !validPhone(order.receiver.phone)`,
			On:          orderFacts(),
			Actions:     Actions{Tags: []string{"手机号异常"}, Severity: SeverityWarning, Queue: QueueCustomerService, Alert: true, Kind: AlertSuspiciousPhone},
		},
		{
			Name:        "duplicate_order",
			Description: "10 分钟内同电话、同地址、同商品重复下单：疑似误操作重复下单，转客服确认。",
			Expression:  `features.samePhoneAddressItem10m >= 2`,
			On:          kinds(order.KindCreated, order.KindPaid),
			Actions:     Actions{Tags: []string{"疑似重复下单"}, Severity: SeverityWarning, Queue: QueueCustomerService, Alert: true, Kind: AlertDuplicateOrder},
		},
		{
			Name:        "large_quantity",
			Description: "单笔订单商品总件数 ≥ 10：疑似批发或囤货，转风控审核。",
			Expression:  `order.itemCount >= 10`,
			On:          kinds(order.KindCreated, order.KindPaid),
			Actions:     Actions{Tags: []string{"大件数订单"}, Severity: SeverityInfo, Queue: QueueRiskReview},
		},
		{
			Name:        "buyer_message_urgent_or_address",
			Description: "买家留言含“加急/尽快/改地址/换地址”：转客服跟进。",
			Expression:  `containsAny(order.buyerMessage, ["加急", "尽快", "改地址", "换地址"])`,
			On:          kinds(order.KindCreated, order.KindPaid),
			Actions:     Actions{Tags: []string{"买家留言"}, Severity: SeverityInfo, Queue: QueueCustomerService},
		},
		{
			Name:        "remote_region",
			Description: "收货地址在偏远地区（新疆、西藏、青海、内蒙古、宁夏、甘肃、海南）：打标，时效放宽，不告警。",
			Expression:  `isRemote(order.receiver.province)`,
			On:          orderFacts(),
			Actions:     Actions{Tags: []string{"偏远地区"}, Severity: SeverityInfo},
		},
		{
			Name:        "recovered_event",
			Description: "事件由对账补录（实时推送丢失）：打标，便于排查接口。",
			Expression:  `event != nil && event.recovered`,
			Actions:     Actions{Tags: []string{"对账补录"}, Severity: SeverityInfo},
		},
		{
			Name:        "refund_after_outbound",
			Description: "已出库（未签收）后买家申请退款：需联系快递拦截，转物流跟进。",
			Expression:  `twin.has("wms.outbound") && !twin.has("courier.delivered")`,
			On:          kinds(order.KindRefundRequested),
			Actions:     Actions{Tags: []string{"拦截"}, Severity: SeverityCritical, Queue: QueueLogisticsFollowUp, Alert: true, Kind: AlertRefundAfterOutbound},
		},
		{
			Name:        "address_change_after_wms",
			Description: "订单已下发仓库后买家修改地址：仓库需暂停作业并更新面单。",
			Expression:  `twin.has("wms.received")`,
			On:          kinds(order.KindAddressChanged),
			Actions:     Actions{Tags: []string{"仓内改址"}, Severity: SeverityCritical, Queue: QueueWarehouseHold, Alert: true, Kind: AlertAddressChangeAfterWMS},
		},
		{
			Name:        "cancelled_after_picking",
			Description: "订单已拣货（未出库）后取消：仓库需截留并退回库存。",
			Expression:  `(twin.has("wms.picked") || twin.has("wms.packed")) && !twin.has("wms.outbound")`,
			On:          kinds(order.KindCancelled),
			Actions:     Actions{Tags: []string{"取消需截留"}, Severity: SeverityWarning, Queue: QueueWarehouseHold, Alert: true, Kind: AlertCancelledAfterPicking},
		},
		{
			Name:        "paid_not_in_wms",
			Description: "付款 10 分钟后仓库仍未收到订单（ERP 未下发或 WMS 未回传）：系统不一致。",
			Expression:  `twin.wms == "" && order.stage not in ["CANCELLED", "REFUNDED"]`,
			On:          kinds(order.KindPaid),
			After:       10 * time.Minute,
			Until: kinds(order.KindWMSReceived, order.KindWMSPicked, order.KindWMSPacked, order.KindWMSOutbound,
				order.KindCancelled, order.KindRefundCompleted),
			Actions: Actions{Tags: []string{"未下发仓库"}, Severity: SeverityWarning, Alert: true, Kind: AlertDivergence},
		},
		{
			Name:        "late_ship",
			Description: "到承诺发货时间仍未出库（渠道未给承诺发货时间则不检查）。",
			Expression:  `!twin.has("wms.outbound") && twin.courier == "" && order.stage not in ["CANCELLED", "REFUNDED"]`,
			On:          kinds(order.KindPaid),
			DueExpr:     `order.shipBy`,
			Until:       kinds(order.KindWMSOutbound, order.KindCollected, order.KindCancelled, order.KindRefundCompleted),
			Actions:     Actions{Tags: []string{"超时未发货"}, Severity: SeverityCritical, Queue: QueueLogisticsFollowUp, Alert: true, Kind: AlertLateShip},
		},
		{
			Name:        "erp_wms_divergence",
			Description: "ERP 报已出库 30 分钟后 WMS 仍未报出库：ERP 与仓库状态不一致。",
			Expression:  `twin.erp == "outbound" && twin.wms != "outbound"`,
			On:          kinds(order.KindWMSOutbound),
			After:       30 * time.Minute,
			Actions:     Actions{Tags: []string{"ERP与WMS不一致"}, Severity: SeverityWarning, Alert: true, Kind: AlertERPWMSDivergence},
		},
		{
			Name:        "outbound_not_collected",
			Description: "出库 10 分钟后快递仍未揽收：转物流跟进催揽。",
			Expression:  `!twin.has("courier.collected") && twin.courier == ""`,
			On:          kinds(order.KindWMSOutbound),
			After:       10 * time.Minute,
			Until: kinds(order.KindCollected, order.KindInTransit, order.KindOutForDelivery,
				order.KindDelivered, order.KindDeliveryFailed, order.KindReturned),
			Actions: Actions{Tags: []string{"出库未揽收"}, Severity: SeverityCritical, Queue: QueueLogisticsFollowUp, Alert: true, Kind: AlertNotCollected},
		},
		{
			Name:        "no_courier_update_24h",
			Description: "揽收后超过 24 小时没有新的物流轨迹：疑似丢件或滞留，转物流跟进。",
			Expression:  `features.lastCourierUpdateMinutes >= 1440`,
			On:          kinds(order.KindCollected, order.KindInTransit, order.KindOutForDelivery),
			After:       24 * time.Hour,
			Until:       courierEnd(),
			Actions:     Actions{Tags: []string{"物流停滞"}, Severity: SeverityWarning, Queue: QueueLogisticsFollowUp, Alert: true, Kind: AlertNoCourierUpdate},
		},
		{
			Name:        "late_delivery",
			Description: "到承诺送达时间仍未签收（未给承诺送达时间则不检查）。",
			Expression:  `!twin.has("courier.delivered") && order.stage not in ["RETURNED", "REFUNDED"]`,
			On:          kinds(order.KindCollected),
			DueExpr:     `order.promisedBy`,
			Until:       kinds(order.KindDelivered, order.KindReturned, order.KindRefundCompleted),
			Actions:     Actions{Tags: []string{"超时未送达"}, Severity: SeverityWarning, Queue: QueueLogisticsFollowUp, Alert: true, Kind: AlertLateDelivery},
		},
		{
			Name:        "delivery_failed",
			Description: "快递派送失败（拒收、地址错误、联系不上等）：转物流跟进。",
			Expression:  `order.stage == "DELIVERY_FAILED"`,
			On:          kinds(order.KindDeliveryFailed),
			Actions:     Actions{Tags: []string{"派送失败"}, Severity: SeverityWarning, Queue: QueueLogisticsFollowUp, Alert: true, Kind: AlertDeliveryFailed},
		},
		{
			Name:        "returned",
			Description: "包裹被退回：转客服联系买家，确认重发或退款。",
			Expression:  `order.stage == "RETURNED"`,
			On:          kinds(order.KindReturned),
			Actions:     Actions{Tags: []string{"退回"}, Severity: SeverityWarning, Queue: QueueCustomerService, Alert: true, Kind: AlertReturned},
		},
	}
	for i := range rs {
		rs[i].Enabled = true
		rs[i].Version = 1
	}
	return rs
}
